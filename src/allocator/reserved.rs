//! parseReservedPorts (stub).
