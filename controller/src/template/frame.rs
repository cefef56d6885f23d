//! The pipe protocol between the controller and its template-rendering child
//! ([`super::sandbox`]). Every field is length-framed (a big-endian `u32` length, then bytes);
//! buffers that hold plaintext are [`Zeroizing`].
//!
//! - Request (controller → child, then stdin is closed): `KSR1`, the item count, each item's
//!   name and value, the template count, each template's key and text.
//! - Answer (child → controller), a sequence of frames, each a tag byte and a payload:
//!   `K` key (about to render this key), `V` key value (one rendered template), `E` key message
//!   (a template over a limit or wrong: the answer ends here), `D` (done: every template
//!   rendered).

use std::{
    collections::BTreeMap,
    io::{self, Read, Write},
};

use kseal_core::SecretBytes;
use kseal_template::Plaintexts;
use zeroize::Zeroizing;

const MAGIC: &[u8; 4] = b"KSR1";

/// What the child renders; the child exits after one render, and its memory with it.
#[derive(Default)]
pub(super) struct Request {
    pub(super) templates: BTreeMap<String, String>,
    pub(super) items: Plaintexts,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Item values are plaintext: names only.
        f.debug_struct("Request")
            .field("templates", &self.templates.keys().collect::<Vec<_>>())
            .field("items", &self.items.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| invalid("field over 4 GiB"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// The request's bytes. The buffer is sized first, so it never reallocates and leaves no
/// unzeroized copy of the plaintext behind.
pub(super) fn encode_request(
    templates: &BTreeMap<String, String>,
    items: &Plaintexts,
) -> io::Result<Zeroizing<Vec<u8>>> {
    let fields = items
        .iter()
        .map(|(k, v)| k.len() + v.len() + 8)
        .chain(templates.iter().map(|(k, t)| k.len() + t.len() + 8))
        .sum::<usize>();
    let mut out = Zeroizing::new(Vec::with_capacity(MAGIC.len() + 8 + fields));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&count(items.len())?.to_be_bytes());
    for (name, value) in items {
        put(&mut out, name.as_bytes())?;
        put(&mut out, value.expose())?;
    }
    out.extend_from_slice(&count(templates.len())?.to_be_bytes());
    for (key, text) in templates {
        put(&mut out, key.as_bytes())?;
        put(&mut out, text.as_bytes())?;
    }
    Ok(out)
}

fn count(n: usize) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| invalid("too many fields"))
}

/// Reads fields from a buffer.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn u32(&mut self) -> io::Result<usize> {
        let (head, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or_else(|| invalid("truncated"))?;
        self.0 = rest;
        Ok(u32::from_be_bytes(*head) as usize)
    }

    fn bytes(&mut self) -> io::Result<&'a [u8]> {
        let len = self.u32()?;
        if len > self.0.len() {
            return Err(invalid("truncated"));
        }
        let (field, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(field)
    }

    fn string(&mut self) -> io::Result<String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| invalid("not UTF-8"))
    }
}

/// Reads a request of at most `cap` bytes up to the end of `input`.
pub(super) fn read_request(input: impl Read, cap: usize) -> io::Result<Request> {
    let mut buf = Zeroizing::new(Vec::new());
    input.take(cap as u64 + 1).read_to_end(&mut buf)?;
    if buf.len() > cap {
        return Err(invalid("request too large"));
    }
    let body = buf
        .strip_prefix(MAGIC)
        .ok_or_else(|| invalid("bad magic"))?;
    let mut fields = Fields(body);
    let mut request = Request::default();
    for _ in 0..fields.u32()? {
        let name = fields.string()?;
        let value = SecretBytes::copy_from(fields.bytes()?);
        request.items.insert(name, value);
    }
    for _ in 0..fields.u32()? {
        let key = fields.string()?;
        let text = fields.string()?;
        request.templates.insert(key, text);
    }
    if !fields.0.is_empty() {
        return Err(invalid("trailing bytes"));
    }
    Ok(request)
}

/// One answer frame.
#[derive(PartialEq, Eq)]
pub(super) enum Frame {
    /// The child is about to render this key.
    Key(String),
    /// One rendered template.
    Value(String, SecretBytes),
    /// A template failed; the answer ends.
    Error(String, String),
    /// Every template rendered; the answer ends.
    Done,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Key(key) => write!(f, "Key({key:?})"),
            Self::Value(key, value) => write!(f, "Value({key:?}, {} bytes)", value.len()),
            Self::Error(key, message) => write!(f, "Error({key:?}, {message:?})"),
            Self::Done => f.write_str("Done"),
        }
    }
}

/// Writes one frame and flushes it, so the controller sees a `K` before the render starts.
pub(super) fn write_frame(out: &mut impl Write, frame: &Frame) -> io::Result<()> {
    let mut payload = Zeroizing::new(Vec::new());
    let tag = match frame {
        Frame::Key(key) => {
            payload.extend_from_slice(key.as_bytes());
            b'K'
        }
        Frame::Value(key, value) => {
            payload.reserve_exact(key.len() + value.len() + 4);
            put(&mut payload, key.as_bytes())?;
            payload.extend_from_slice(value.expose());
            b'V'
        }
        Frame::Error(key, message) => {
            put(&mut payload, key.as_bytes())?;
            payload.extend_from_slice(message.as_bytes());
            b'E'
        }
        Frame::Done => b'D',
    };
    out.write_all(&[tag])?;
    out.write_all(&count(payload.len())?.to_be_bytes())?;
    out.write_all(&payload)?;
    out.flush()
}

/// Reads one frame; `Ok(None)` at a clean end of input. `budget` is the number of answer bytes
/// still accepted; a frame larger than that is refused before it is read.
pub(super) fn read_frame(input: &mut impl Read, budget: &mut usize) -> io::Result<Option<Frame>> {
    let mut tag = [0u8; 1];
    if input.read(&mut tag)? == 0 {
        return Ok(None);
    }
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    let cost = len.saturating_add(5);
    if cost > *budget {
        return Err(invalid("answer too large"));
    }
    *budget -= cost;
    let mut payload = Zeroizing::new(vec![0u8; len]);
    input.read_exact(&mut payload)?;
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).map_err(|_| invalid("not UTF-8"));
    Ok(Some(match tag[0] {
        b'K' => Frame::Key(text(&payload)?),
        b'V' => {
            let mut fields = Fields(&payload);
            let key = fields.string()?;
            Frame::Value(key, SecretBytes::copy_from(fields.0))
        }
        b'E' => {
            let mut fields = Fields(&payload);
            let key = fields.string()?;
            Frame::Error(key, text(fields.0)?)
        }
        b'D' if len == 0 => Frame::Done,
        _ => return Err(invalid("unknown frame")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let templates = BTreeMap::from([("a.yaml".to_owned(), "{{ .x }}".to_owned())]);
        let items = BTreeMap::from([
            ("x".to_owned(), SecretBytes::copy_from(b"secret")),
            ("empty".to_owned(), SecretBytes::default()),
        ]);
        let bytes = encode_request(&templates, &items).unwrap();
        let request = read_request(&bytes[..], 1 << 20).unwrap();
        assert_eq!(request.templates, templates);
        assert_eq!(request.items, items);
        assert!(!format!("{request:?}").contains("secret"));
        assert!(read_request(&bytes[..], bytes.len() - 1).is_err());
        assert!(read_request(&bytes[..bytes.len() - 1], 1 << 20).is_err());
        assert!(read_request(&b"XXXX"[..], 1 << 20).is_err());
    }

    #[test]
    fn frames_round_trip_within_the_budget() {
        let frames = [
            Frame::Key("k".into()),
            Frame::Value("k".into(), SecretBytes::copy_from(b"v\0v")),
            Frame::Error("k".into(), "over".into()),
            Frame::Done,
        ];
        let mut bytes = Vec::new();
        for frame in &frames {
            write_frame(&mut bytes, frame).unwrap();
        }
        let mut input = &bytes[..];
        let mut budget = bytes.len();
        for frame in frames {
            assert_eq!(read_frame(&mut input, &mut budget).unwrap(), Some(frame));
        }
        assert_eq!(read_frame(&mut input, &mut budget).unwrap(), None);
        assert_eq!(budget, 0);

        let mut small = 5;
        assert!(read_frame(&mut &bytes[..], &mut small).is_err());
        assert!(read_frame(&mut &b"Z\0\0\0\0"[..], &mut 100).is_err());
        assert!(read_frame(&mut &b"K\0\0"[..], &mut 100).is_err());
    }
}
