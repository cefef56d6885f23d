//! Strict .env parsing (in progress).
