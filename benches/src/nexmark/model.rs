//! Nexmark's three event types, as written to the event topic: the
//! generator's events (the `nexmark` crate, person:auction:bid = 1:3:46)
//! with serde (JSON) and rkyv encodings.

use serde::{Deserialize, Serialize};

/// The first event's time: 2015-07-15 00:00:00 UTC, Nexmark's base time,
/// so that runs are reproducible.
pub const BASE_TIME: u64 = 1_436_918_400_000;

/// A person who sells or bids.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Person {
    /// Person id.
    pub id: u64,
    /// Full name.
    pub name: String,
    /// Email address.
    pub email_address: String,
    /// Credit card number.
    pub credit_card: String,
    /// City.
    pub city: String,
    /// US state, in upper case.
    pub state: String,
    /// Event time, ms since the epoch.
    pub date_time: i64,
    /// Padding.
    pub extra: String,
}

/// An auction: an item put up for sale until `expires`.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Auction {
    /// Auction id.
    pub id: u64,
    /// Item name.
    pub item_name: String,
    /// Item description.
    pub description: String,
    /// Opening price.
    pub initial_bid: u64,
    /// Reserve price.
    pub reserve: u64,
    /// Event time (the auction opens), ms since the epoch.
    pub date_time: i64,
    /// When the auction closes, ms since the epoch.
    pub expires: i64,
    /// Id of the selling person.
    pub seller: u64,
    /// Category id.
    pub category: u64,
    /// Padding.
    pub extra: String,
}

/// A bid on an auction.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Bid {
    /// Auction id.
    pub auction: u64,
    /// Id of the bidding person.
    pub bidder: u64,
    /// Price, in cents.
    pub price: u64,
    /// Channel the bid came through.
    pub channel: String,
    /// URL of the bid.
    pub url: String,
    /// Event time, ms since the epoch.
    pub date_time: i64,
    /// Padding.
    pub extra: String,
}

/// One Nexmark event. In JSON: `{"person": {...}}`, `{"auction": {...}}`
/// or `{"bid": {...}}`.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A new person.
    Person(Person),
    /// A new auction.
    Auction(Auction),
    /// A bid.
    Bid(Bid),
}

impl Event {
    /// The event's time, ms since the epoch.
    pub fn date_time(&self) -> i64 {
        match self {
            Event::Person(p) => p.date_time,
            Event::Auction(a) => a.date_time,
            Event::Bid(b) => b.date_time,
        }
    }
}

impl From<nexmark::event::Event> for Event {
    fn from(e: nexmark::event::Event) -> Self {
        use nexmark::event::Event as E;
        match e {
            E::Person(p) => Event::Person(Person {
                id: p.id as u64,
                name: p.name,
                email_address: p.email_address,
                credit_card: p.credit_card,
                city: p.city,
                state: p.state.to_uppercase(),
                date_time: p.date_time as i64,
                extra: p.extra,
            }),
            E::Auction(a) => Event::Auction(Auction {
                id: a.id as u64,
                item_name: a.item_name,
                description: a.description,
                initial_bid: a.initial_bid as u64,
                reserve: a.reserve as u64,
                date_time: a.date_time as i64,
                expires: a.expires as i64,
                seller: a.seller as u64,
                category: a.category as u64,
                extra: a.extra,
            }),
            E::Bid(b) => Event::Bid(Bid {
                auction: b.auction as u64,
                bidder: b.bidder as u64,
                price: b.price as u64,
                channel: b.channel,
                url: b.url,
                date_time: b.date_time as i64,
                extra: b.extra,
            }),
        }
    }
}

/// The first `n` events of Nexmark's default generator (10k events/s of
/// event time, in time order) from [`BASE_TIME`], lazily.
pub fn events(n: u64) -> impl Iterator<Item = Event> {
    let config = nexmark::config::NexmarkConfig {
        base_time: BASE_TIME,
        ..Default::default()
    };
    nexmark::EventGenerator::new(config)
        .take(n as usize)
        .map(Event::from)
}
