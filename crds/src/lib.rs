//! SealedSecret CRD types (in progress).
