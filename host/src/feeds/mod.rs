//! Signal sources outside the venue: the host fetches them, stores what they bring and hands it
//! to the engine, which passes it to the signal plugins (plugins never call out themselves).

pub mod news;
pub mod whales;
