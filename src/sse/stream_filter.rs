//! Which events one stream receives. Herald's streams and the Mercure hub's
//! read the same log, but keep apart: a Herald stream takes the events of
//! its topics and never a Mercure update; a Mercure stream takes the
//! updates its selectors and its token allow, and nothing else.

use crate::auth::mercure::MercureGrant;
use crate::domain::TopicFilter;
use crate::domain::mercure::{Selector, SharedUpdate};

use super::event_frame::EventFrame;

pub enum StreamFilter {
    Herald(TopicFilter),
    Mercure(MercureFilter),
}

/// A Mercure subscriber's selectors (its `topic=`), and what its token lets
/// it receive of private updates (`None`: anonymous, public updates only).
pub struct MercureFilter {
    pub selectors: Vec<Selector>,
    pub grant: Option<MercureGrant>,
}

impl MercureFilter {
    /// Whether `shared` is for this subscriber: one of its selectors
    /// matches one of the update's topics, and so does one of its token's
    /// `mercure.subscribe` selectors if the update is private.
    pub fn accepts(&self, shared: &SharedUpdate) -> bool {
        let selected = |selectors: &[Selector]| selectors.iter().any(|s| shared.selected_by(s));
        selected(&self.selectors)
            && (!shared.update.private
                || self
                    .grant
                    .as_ref()
                    .is_some_and(|grant| selected(&grant.subscribe)))
    }
}

impl StreamFilter {
    pub fn accepts(&self, frame: &EventFrame) -> bool {
        match (self, &frame.mercure) {
            (Self::Herald(topics), None) => topics.matches(&frame.topic),
            (Self::Mercure(mercure), Some(update)) => mercure.accepts(update),
            _ => false,
        }
    }

    /// Whether this stream takes every Herald event: it then reads the
    /// feed's joined bytes, shared by every such stream.
    pub fn takes_every_herald_event(&self) -> bool {
        matches!(self, Self::Herald(topics) if topics.is_all())
    }

    pub fn is_mercure(&self) -> bool {
        matches!(self, Self::Mercure(_))
    }
}
