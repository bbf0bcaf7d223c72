//! zkmesh's weighted tower balancer: a [`Balancer`] is a `tower::Service` over a subscription
//! that picks by effective weight and load, and feeds outlier ejection.
//!
//! `service.rs` holds the [`Balancer`] (the picking: two weighted draws, the cheaper per unit
//! of weight; membership from the subscription's provider sets; readiness through tower's
//! `ReadyCache`), `endpoint.rs` one provider's service with its load ([`BalancerLoad`]) and the
//! outcome of each response, `classify.rs` what a response says ([`Classify`],
//! [`ConnectionErrors`], [`HttpServerErrors`]), `tag.rs` how a request's tag reaches the
//! balancer's route choice and the next hop ([`RequestTag`], [`TagLayer`]). Everything but the
//! classifiers needs the crate's `tower` feature (on by default).

mod classify;
#[cfg(feature = "tower")]
mod endpoint;
#[cfg(feature = "tower")]
mod service;
#[cfg(feature = "tower")]
mod tag;
#[cfg(test)]
mod tests;

pub use self::classify::{
    is_connection_error, is_refused_connection, Classify, ConnectionErrors, ErrorRef, GrpcErrors,
    HttpServerErrors,
};
#[cfg(feature = "tower")]
pub use self::endpoint::{BalancerLoad, EWMA_MIN_STEP};
#[cfg(feature = "tower")]
pub use self::service::{Balancer, ResponseFuture};
#[cfg(feature = "tower")]
pub use self::tag::{request_tag, RequestTag, TagLayer, TagService, TAG_HEADER};
