//! What the bucket said, as one line a person can act on.

use anyhow::anyhow;

/// An error and its causes on one line, without the request dumps some
/// services send back, and with anything a terminal would act on (an
/// object's name can hold escape sequences) shown as an escape.
pub fn one_line(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = next {
        let text = err
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    let mut line = crate::escape::visible(&parts.join(": "));
    if line.len() > 400 {
        let mut end = 400;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    line
}

/// `what` (e.g. "cannot upload") failed on `target`: one line, with what to
/// check for the usual causes.
pub fn explain(what: &str, target: &str, bucket: &str, e: &object_store::Error) -> anyhow::Error {
    let detail = one_line(e);
    let lower = detail.to_ascii_lowercase();
    let hint = if lower.contains("nosuchbucket") || lower.contains("bucket does not exist") {
        format!("there is no bucket {bucket:?} (create it, or check the name and --s3-endpoint)")
    } else if matches!(
        e,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    ) || lower.contains("signaturedoesnotmatch")
        || lower.contains("invalidaccesskeyid")
        || lower.contains("accessdenied")
        || lower.contains("403 forbidden")
    {
        "access denied: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and the key's rights on the bucket)".to_string()
    } else if lower.contains("object with invalid path") {
        "the folder holds an object whose name the storage library refuses (a \".\" or \"..\" \
         segment, or a control character), so it cannot be listed: rename or remove that object"
            .to_string()
    } else if lower.contains("connection refused")
        || lower.contains("error sending request")
        || lower.contains("dns error")
        || lower.contains("timed out")
    {
        "the storage service does not answer (check --s3-endpoint / AWS_ENDPOINT_URL and the network)".to_string()
    } else {
        String::new()
    };
    if hint.is_empty() {
        anyhow!("{what} {target}: {detail}")
    } else {
        anyhow!("{what} {target}: {hint} ({})", short(&detail))
    }
}

/// The gist of a detail a hint already explains: the HTTP status, or the
/// innermost cause ("Connection refused (os error 111)").
fn short(detail: &str) -> String {
    if let Some((_, status)) = detail.split_once("status code: ") {
        let status = status.split(':').next().unwrap_or(status).trim();
        return format!("HTTP {status}");
    }
    detail
        .rsplit(": ")
        .next()
        .unwrap_or(detail)
        .trim()
        .to_string()
}
