//! The records the Nexmark queries write and pass between their steps.

use super::model::{Auction, Bid};
use serde::{Deserialize, Serialize};

/// q1's result: a bid with its price in euros.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Q1Row {
    /// Auction id.
    pub auction: u64,
    /// Bidder id.
    pub bidder: u64,
    /// Price in euros (`0.908 * price`).
    pub price: f64,
    /// Event time.
    pub date_time: i64,
    /// Padding.
    pub extra: String,
}

/// q3's result: a seller and an auction of theirs.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Q3Row {
    /// Seller's name.
    pub name: String,
    /// Seller's city.
    pub city: String,
    /// Seller's state.
    pub state: String,
    /// Auction id.
    pub id: u64,
}

/// A bid on its way to q7's window maximum.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Q7Candidate {
    /// The bid.
    pub bid: Bid,
    /// True for the copy of a bid at a window's end, sent to the window
    /// before: it may match that window's maximum, but takes no part in
    /// finding it.
    pub at_end: bool,
}

/// q7's result: a bid with the highest price of a window.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Q7Row {
    /// End of the window, in ms.
    pub window_end: i64,
    /// The bid.
    pub bid: Bid,
}

/// q8's result: a person who opened an auction in their first window.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Q8Row {
    /// Person id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Start of the window, in ms.
    pub start: i64,
}

/// q11's result: one session of a bidder.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Q11Row {
    /// Bidder id.
    pub bidder: u64,
    /// Bids in the session.
    pub count: u64,
    /// The first bid's time.
    pub start: i64,
    /// The last bid's time plus the gap.
    pub end: i64,
}

/// What q8 gathers per person and window.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Q8Side {
    /// The person appeared, with this name.
    Person(String),
    /// The person opened an auction.
    Auction,
}

/// An auction or a bid, keyed by auction id (q4, q9).
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum AuctionOrBid {
    /// The auction.
    Auction(Auction),
    /// A bid on it.
    Bid(Bid),
}

/// An auction's best bid so far among those in its open time; bids that
/// arrive before their auction wait in `pending`.
#[derive(Debug, Clone, Default, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Winning {
    /// The auction, once it arrived.
    pub auction: Option<Auction>,
    /// The best bid.
    pub best: Option<Bid>,
    /// Bids that came before the auction.
    pub pending: Vec<Bid>,
    /// Whether the last event changed `best`.
    pub changed: bool,
    /// The best price before the last event, if it changed.
    pub previous: Option<u64>,
}

impl Winning {
    /// Takes in an auction or a bid.
    pub fn with(mut self, e: AuctionOrBid) -> Self {
        self.changed = false;
        self.previous = None;
        match e {
            AuctionOrBid::Auction(a) => {
                self.auction = Some(a);
                for b in std::mem::take(&mut self.pending) {
                    self.consider(b);
                }
            }
            AuctionOrBid::Bid(b) if self.auction.is_some() => self.consider(b),
            AuctionOrBid::Bid(b) => self.pending.push(b),
        }
        self
    }

    fn consider(&mut self, b: Bid) {
        let Some(a) = &self.auction else { return };
        if !in_time(a, &b) || self.best.as_ref().is_some_and(|best| !beats(&b, best)) {
            return;
        }
        if !self.changed {
            self.previous = self.best.as_ref().map(|best| best.price);
        }
        self.best = Some(b);
        self.changed = true;
    }
}

/// `B.dateTime BETWEEN A.dateTime AND A.expires`.
pub fn in_time(a: &Auction, b: &Bid) -> bool {
    (a.date_time..=a.expires).contains(&b.date_time)
}

/// Whether `b` ranks before `best`: higher price, then earlier, then the
/// lower bidder id (the last only to make ties deterministic).
pub fn beats(b: &Bid, best: &Bid) -> bool {
    use std::cmp::Reverse;
    (b.price, Reverse(b.date_time), Reverse(b.bidder))
        > (best.price, Reverse(best.date_time), Reverse(best.bidder))
}
