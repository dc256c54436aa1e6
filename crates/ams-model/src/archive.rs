//! Splitting a file into SQS bodies: successive JSON values, however they are laid out — one
//! pretty-printed value, one per line (newline-delimited), or concatenated without separators
//! as Firehose writes them to S3. Text that is not JSON is yielded up to the end of its line,
//! so the caller can quarantine it and carry on with the next line.

use serde::de::IgnoredAny;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveChunk<'a> {
    /// 1-based line where the chunk starts.
    pub line: usize,
    pub text: &'a str,
}

pub struct ArchiveBodies<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

/// Iterates over the bodies of a file's contents.
pub fn archive_bodies(text: &str) -> ArchiveBodies<'_> {
    ArchiveBodies { text, pos: 0, line: 1 }
}

impl<'a> Iterator for ArchiveBodies<'a> {
    type Item = ArchiveChunk<'a>;

    fn next(&mut self) -> Option<ArchiveChunk<'a>> {
        let bytes = self.text.as_bytes();
        while self.pos < bytes.len() && bytes[self.pos].is_ascii_whitespace() {
            if bytes[self.pos] == b'\n' {
                self.line += 1;
            }
            self.pos += 1;
        }
        if self.pos >= bytes.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<IgnoredAny>();
        let len = match values.next() {
            Some(Ok(_)) => values.byte_offset(),
            // Not JSON from here: give up on this line only.
            _ => rest.find('\n').unwrap_or(rest.len()),
        };
        let chunk = ArchiveChunk { line: self.line, text: rest[..len].trim_end() };
        self.line += chunk.text.matches('\n').count();
        self.pos += len;
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(s: &str) -> Vec<(usize, &str)> {
        archive_bodies(s).map(|c| (c.line, c.text)).collect()
    }

    #[test]
    fn splits_every_layout() {
        assert_eq!(chunks("{\"a\":1}\n{\"b\":2}\n"), [(1, "{\"a\":1}"), (2, "{\"b\":2}")]);
        assert_eq!(chunks("{\"a\":1}{\"b\":2}"), [(1, "{\"a\":1}"), (1, "{\"b\":2}")]);
        assert_eq!(chunks("{\n  \"a\": 1\n}\n"), [(1, "{\n  \"a\": 1\n}")]);
        assert_eq!(chunks("[1,\n2]\n\n{}"), [(1, "[1,\n2]"), (4, "{}")]);
        assert_eq!(chunks(""), []);
    }

    #[test]
    fn garbage_is_yielded_line_by_line_and_the_rest_survives() {
        assert_eq!(
            chunks("{\"a\":1}\nnot json at all\n{\"b\":\n{\"c\":3}\r\n"),
            [(1, "{\"a\":1}"), (2, "not json at all"), (3, "{\"b\":"), (4, "{\"c\":3}")]
        );
    }
}
