//! Test fixtures: the shared ones of `kseal_crds::fixtures` (generated keys, SealedSecret
//! builders, `unseal` with the in-process renderer).

pub(crate) use kseal_crds::fixtures::*;
