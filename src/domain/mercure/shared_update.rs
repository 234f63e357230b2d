//! An update as the streams of one instance test it.

use std::sync::{Arc, Mutex};

use super::selector::{Selector, Template};
use super::update::Update;
use crate::lock::lock;

/// An update shared by every stream it is offered to, which remembers each
/// template's answer: with thousands of subscribers of one template, the
/// template is matched against the update's topics once, not once each.
///
/// ### Invariants
/// - An answer is kept with the template itself (not its address), so it
///   can only ever be this template's.
/// - At most one answer per distinct template asked, for as long as the
///   update is in the feed.
#[derive(Debug)]
pub struct SharedUpdate {
    pub update: Update,
    answers: Mutex<Vec<(Arc<Template>, bool)>>,
}

impl SharedUpdate {
    pub fn new(update: Update) -> Self {
        Self {
            update,
            answers: Mutex::default(),
        }
    }

    /// Whether `selector` selects one of the update's topics.
    pub fn selected_by(&self, selector: &Selector) -> bool {
        let topics = &self.update.topics;
        let Selector::Template(template) = selector else {
            return topics.iter().any(|topic| selector.matches(topic));
        };
        if let Some((_, answer)) = lock(&self.answers)
            .iter()
            .find(|(known, _)| Arc::ptr_eq(known, template))
        {
            return *answer;
        }
        // Worked out outside the lock: another stream asking meanwhile
        // works it out too, and both answers are the same.
        let answer = topics.iter().any(|topic| template.matches(topic));
        lock(&self.answers).push((template.clone(), answer));
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_template_is_answered_once_and_rightly() {
        let update = Update {
            id: "u".to_owned(),
            topics: vec![
                "https://example.com/books/1".to_owned(),
                "https://example.com/users/ada".to_owned(),
            ],
            data: String::new(),
            private: false,
            kind: None,
            retry: None,
        };
        let shared = SharedUpdate::new(update);
        let books = Selector::parse("https://example.com/books/{id}");
        let authors = Selector::parse("https://example.com/authors/{id}");
        for _ in 0..3 {
            assert!(shared.selected_by(&books));
            assert!(!shared.selected_by(&authors));
            assert!(shared.selected_by(&Selector::parse("https://example.com/users/{name}")));
            assert!(shared.selected_by(&Selector::parse("https://example.com/users/ada")));
            assert!(shared.selected_by(&Selector::All));
        }
        // One answer per distinct template (the same text is one template).
        assert_eq!(lock(&shared.answers).len(), 3);
    }
}
