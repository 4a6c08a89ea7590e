//! Header maps as OpenTelemetry carriers: [`Extractor`] and [`Injector`] for `http::HeaderMap`
//! (gRPC metadata) and `async_nats::HeaderMap`.
//!
//! They are newtypes because both the traits and the maps are foreign. They never panic: names
//! or values a map cannot carry are skipped when writing and read as absent.

use std::str::FromStr;

use opentelemetry::propagation::{Extractor, Injector};

/// Reads HTTP/2 headers. For tonic, pass `metadata.as_ref()` (`MetadataMap` implements
/// `AsRef<http::HeaderMap>`). Values that are not visible ASCII read as absent.
#[derive(Debug)]
pub struct HeaderExtractor<'a>(pub &'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Writes HTTP/2 headers, replacing any previous value. Names or values HTTP cannot carry are
/// skipped.
#[derive(Debug)]
pub struct HeaderInjector<'a>(pub &'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        let name = http::HeaderName::from_bytes(key.as_bytes());
        let value = http::HeaderValue::from_str(&value);
        if let (Ok(name), Ok(value)) = (name, value) {
            self.0.insert(name, value);
        }
    }
}

/// Reads NATS message headers. NATS header names are case-sensitive; an exact match wins, and
/// otherwise the first name equal ignoring ASCII case is used.
#[derive(Debug)]
pub struct NatsHeaderExtractor<'a>(pub &'a async_nats::HeaderMap);

impl Extractor for NatsHeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        // `HeaderMap::get(&str)` panics on names NATS cannot carry; parsing first cannot.
        let name = async_nats::header::HeaderName::from_str(key).ok()?;
        if let Some(value) = self.0.get(name) {
            return Some(value.as_str());
        }
        self.0
            .iter()
            .find(|(name, _)| AsRef::<str>::as_ref(name).eq_ignore_ascii_case(key))
            .and_then(|(_, values)| values.first())
            .map(async_nats::HeaderValue::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}

/// Writes NATS message headers, replacing any previous value. Names or values NATS cannot carry
/// (control characters, `:` in a name, CR or LF in a value) are skipped.
#[derive(Debug)]
pub struct NatsHeaderInjector<'a>(pub &'a mut async_nats::HeaderMap);

impl Injector for NatsHeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // `insert(&str, String)` panics on invalid input; the parsed forms cannot.
        let name = async_nats::header::HeaderName::from_str(key);
        let value = async_nats::HeaderValue::from_str(&value);
        if let (Ok(name), Ok(value)) = (name, value) {
            self.0.insert(name, value);
        }
    }
}
