//! `spec.template.data` in the controller: the renderer itself is the pure `kseal-template`
//! crate (`core/template/`); this module runs it in a short-lived child process with resource
//! limits ([`sandbox`], layer (b) of `docs/templates.md`), over the pipe protocol of `frame`.

mod frame;
pub mod sandbox;

pub use sandbox::Sandbox;
