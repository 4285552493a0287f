//! rootlesskit's HTTP API for ports, as data: what `POST /v1/ports` and
//! `DELETE /v1/ports/{id}` answer, byte for byte, and what the Go client
//! makes of an error answer.
//!
//! Mirrors `PostPort` and `DeletePort` in `pkg/api/router/router.go`,
//! `WriteError`, `Successful` and `HTTPStatusError.Error` in
//! `pkg/httputil/httputil.go`, and the JSON tags of `Spec` and `Status` in
//! `pkg/port/port.go` (rootlesskit e780dd3). The bodies are what Go's
//! `encoding/json` writes, including its HTML-safe escaping (`>` is
//! written `\u003e`), so they can be compared with the real binary's.

use super::{PortDriver, Spec};

/// One HTTP answer.
///
/// `WriteError` calls `WriteHeader` before setting `Content-Type`, so the
/// real server sends error bodies without a JSON content type; successful
/// POSTs carry `application/json`. Headers are not modelled here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Go's `httputil.HTTPStatusErrorBodyMaxLength`.
const ERROR_BODY_MAX: usize = 64 * 1024;

impl Response {
    /// `WriteError(w, r, err, 400)`: status, then `json.NewEncoder(w).Encode`
    /// of `{"message": ...}` (the encoder ends the value with a newline).
    pub fn error(status: u16, message: &str) -> Response {
        Response {
            status,
            body: format!("{{\"message\":{}}}\n", go_json_string(message)),
        }
    }

    /// What rootlesskit's Go client returns for this answer:
    /// `Ok(())` for a 2xx status, else the text of the `HTTPStatusError`
    /// (`httputil.Successful` then `HTTPStatusError.Error`): the `message`
    /// of a JSON error body, or `unexpected HTTP status ..., body=...`.
    pub fn client_result(&self) -> Result<(), String> {
        if self.status / 100 == 2 {
            return Ok(());
        }
        if !self.body.is_empty() && self.body.len() < ERROR_BODY_MAX {
            if let Some(m) = unmarshal_error_json(&self.body) {
                return Err(m);
            }
        }
        Err(format!(
            "unexpected HTTP status {}, body={}",
            status_text(self.status),
            super::validate::go_quote(&self.body)
        ))
    }

    /// The `id` of a 201 answer to `POST /v1/ports` as the client decodes it.
    pub fn created_id(&self) -> Option<u32> {
        if self.status / 100 != 2 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        v.get("id")?.as_u64().and_then(|n| u32::try_from(n).ok())
    }
}

/// `POST /v1/ports` (`Backend.PostPort`, router.go, e780dd3): the driver's
/// `AddPort`, then 201 with `json.Marshal` of the `port.Status`
/// (`{"id":N,"spec":{...}}`, no trailing newline), or 400 with the error
/// text. The request body's JSON round trip (client `json.Marshal`, server
/// `Decode`) gives back the same spec, so it is not modelled.
pub fn post_ports(driver: &dyn PortDriver, who: &str, spec: &Spec) -> Response {
    match driver.add_port(who, spec) {
        Ok(id) => Response {
            status: 201,
            body: status_json(id, spec),
        },
        Err(msg) => Response::error(400, &msg),
    }
}

/// `DELETE /v1/ports/{id}` (`Backend.DeletePort`, router.go, e780dd3): 200
/// with an empty body, or 400 with the error text. The id arrives already
/// parsed (the route's `strconv.Atoi` cannot fail for a `u32`).
pub fn delete_port(driver: &dyn PortDriver, who: &str, id: u32) -> Response {
    match driver.remove_port(who, id) {
        Ok(()) => Response {
            status: 200,
            body: String::new(),
        },
        Err(msg) => Response::error(400, &msg),
    }
}

/// `json.Marshal(port.Status{ID, Spec})`: field order and `omitempty` as
/// the struct tags in port.go say (`proto`, `parentIP`, `parentPort`,
/// `childPort`, `childIP`; empty strings and zero ports left out).
pub fn status_json(id: u32, spec: &Spec) -> String {
    format!("{{\"id\":{id},\"spec\":{}}}", spec_json(spec))
}

/// `json.Marshal(port.Spec)` (port.go, e780dd3).
pub fn spec_json(spec: &Spec) -> String {
    let text = |v: &str| (!v.is_empty()).then(|| go_json_string(v));
    let int = |v: i32| (v != 0).then(|| v.to_string());
    let fields = [
        ("proto", text(&spec.proto)),
        ("parentIP", text(&spec.parent_ip)),
        ("parentPort", int(spec.parent_port)),
        ("childPort", int(spec.child_port)),
        ("childIP", text(&spec.child_ip)),
    ];
    let present: Vec<String> = fields
        .into_iter()
        .filter_map(|(name, v)| v.map(|v| format!("\"{name}\":{v}")))
        .collect();
    format!("{{{}}}", present.join(","))
}

/// A JSON string as Go's `encoding/json` writes it with HTML escaping on
/// (the default of both `json.Marshal` and `json.NewEncoder`, Go 1.22+):
/// `"` and `\` escaped; `\b \f \n \r \t` by name; other control bytes and
/// `< > &` as `\u00XX`; U+2028 and U+2029 as `\u2028`/`\u2029`; all other
/// characters as they are.
pub fn go_json_string(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\u{8}' => out.push_str("\\b"),
            '\u{C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{0}'..='\u{1F}' => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xF) as usize] as char);
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `json.Unmarshal(body, &ErrorJSON{})` succeeding: `null`, or a JSON
/// object whose `message` member, if present, is a string or `null`.
/// Returns the message. (Go also matches the key case-insensitively and
/// lets the last duplicate win; the server only ever writes `message`.)
fn unmarshal_error_json(body: &str) -> Option<String> {
    use serde_json::Value;
    match serde_json::from_str::<Value>(body).ok()? {
        Value::Null => Some(String::new()),
        Value::Object(m) => match m.get("message") {
            None | Some(Value::Null) => Some(String::new()),
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => None,
        },
        _ => None,
    }
}

/// Go's `http.StatusText` for the statuses the router can send.
fn status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(proto: &str, pip: &str, pport: i32, cip: &str, cport: i32) -> Spec {
        Spec {
            proto: proto.into(),
            parent_ip: pip.into(),
            parent_port: pport,
            child_ip: cip.into(),
            child_port: cport,
        }
    }

    #[test]
    fn status_json_uses_port_go_field_names_and_order() {
        assert_eq!(
            status_json(1, &spec("tcp4", "0.0.0.0", 8181, "127.0.0.1", 80)),
            r#"{"id":1,"spec":{"proto":"tcp4","parentIP":"0.0.0.0","parentPort":8181,"childPort":80,"childIP":"127.0.0.1"}}"#
        );
    }

    #[test]
    fn status_json_omits_empty_fields() {
        assert_eq!(
            status_json(7, &spec("tcp", "", 8080, "", 0)),
            r#"{"id":7,"spec":{"proto":"tcp","parentPort":8080}}"#
        );
        assert_eq!(
            status_json(2, &spec("", "", 0, "", 0)),
            r#"{"id":2,"spec":{}}"#
        );
    }

    #[test]
    fn write_error_body_ends_with_newline() {
        let r = Response::error(400, "conflict with ID 1");
        assert_eq!(r.status, 400);
        assert_eq!(r.body, "{\"message\":\"conflict with ID 1\"}\n");
    }

    #[test]
    fn go_json_escapes_html_and_controls() {
        assert_eq!(
            go_json_string("a<b>&\"\\\n\t\u{1}\u{8}\u{c}\u{7f}\u{2028}é"),
            "\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\t\\u0001\\b\\f\u{7f}\\u2028é\""
        );
        // The EPERM hint contains ">=": Go writes it as \u003e=.
        assert_eq!(go_json_string("(>= 1024)"), "\"(\\u003e= 1024)\"");
    }

    #[test]
    fn client_reads_the_message_back_verbatim() {
        let msg = "cannot expose privileged port 80 ... (>= 1024): listen tcp4 0.0.0.0:80: bind: permission denied";
        assert_eq!(
            Response::error(400, msg).client_result(),
            Err(msg.to_string())
        );
    }

    #[test]
    fn client_falls_back_to_status_text_for_non_json() {
        let r = Response {
            status: 400,
            body: "oops".into(),
        };
        assert_eq!(
            r.client_result(),
            Err("unexpected HTTP status Bad Request, body=\"oops\"".into())
        );
        let empty = Response {
            status: 400,
            body: String::new(),
        };
        assert_eq!(
            empty.client_result(),
            Err("unexpected HTTP status Bad Request, body=\"\"".into())
        );
    }

    #[test]
    fn created_id_reads_the_status() {
        let r = Response {
            status: 201,
            body: status_json(3, &spec("udp4", "0.0.0.0", 53, "127.0.0.1", 53)),
        };
        assert_eq!(r.created_id(), Some(3));
        assert_eq!(r.client_result(), Ok(()));
        assert_eq!(Response::error(400, "x").created_id(), None);
    }

    /// `encoding/json` writes `\r` by name and U+2029 (like U+2028)
    /// escaped, for JavaScript.
    #[test]
    fn go_json_escapes_carriage_return_and_paragraph_separator() {
        assert_eq!(go_json_string("a\rb"), "\"a\\rb\"");
        assert_eq!(go_json_string("\u{2029}"), "\"\\u2029\"");
    }

    /// `json.Unmarshal("null", &errorJSON)` succeeds and leaves the
    /// message empty: the client's error is that empty message.
    #[test]
    fn a_null_error_body_is_an_empty_message() {
        let r = Response {
            status: 400,
            body: "null".into(),
        };
        assert_eq!(r.client_result(), Err(String::new()));
    }

    /// Go's `http.StatusText` for every status the router sends.
    #[test]
    fn status_texts_are_gos() {
        assert_eq!(status_text(200), "OK");
        assert_eq!(status_text(201), "Created");
        assert_eq!(status_text(400), "Bad Request");
        assert_eq!(status_text(404), "Not Found");
        assert_eq!(status_text(405), "Method Not Allowed");
        assert_eq!(status_text(500), "Internal Server Error");
        // A code Go has no text for either (StatusText(299) is "").
        assert_eq!(status_text(299), "");
    }

    /// The client decodes an error body only below 64 KiB: a JSON body of
    /// 64 KiB - 1 bytes gives its message, one of exactly 64 KiB the
    /// status text and the quoted body.
    #[test]
    fn error_bodies_of_64_kib_or_more_are_not_decoded() {
        let body = |len: usize| {
            let pad = len - "{\"message\":\"\"}".len();
            format!("{{\"message\":\"{}\"}}", "x".repeat(pad))
        };
        let r = |body: String| Response { status: 404, body };
        assert_eq!(r(body(65535)).client_result(), Err("x".repeat(65535 - 14)));
        let at_max = body(65536);
        assert_eq!(
            r(at_max.clone()).client_result(),
            // strconv.Quote of the body: its quotes escaped, in quotes.
            Err(format!(
                "unexpected HTTP status Not Found, body=\"{}\"",
                at_max.replace('"', "\\\"")
            ))
        );
        // A 2 000-byte body is well below the limit.
        assert_eq!(r(body(2000)).client_result(), Err("x".repeat(2000 - 14)));
    }
}
