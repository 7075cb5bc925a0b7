//! The records the Nexmark queries write and pass between their steps.

use super::model::{Auction, Bid};
use serde::{Deserialize, Serialize};

/// q0's result: `SELECT auction, bidder, price, dateTime, extra FROM bid`.
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
pub struct Q0Row {
    /// Auction id.
    pub auction: u64,
    /// Bidder id.
    pub bidder: u64,
    /// Price, in cents.
    pub price: u64,
    /// Event time.
    pub date_time: i64,
    /// Padding.
    pub extra: String,
}

impl From<Bid> for Q0Row {
    fn from(b: Bid) -> Self {
        Q0Row {
            auction: b.auction,
            bidder: b.bidder,
            price: b.price,
            date_time: b.date_time,
            extra: b.extra,
        }
    }
}

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

/// A change of an auction's winning bid (q4, q9).
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct WinnerChange {
    /// The auction, when the query keeps auctions whole (q9).
    pub auction: Option<Auction>,
    /// The auction's category.
    pub category: u64,
    /// The winning price before, if there was a winner.
    pub previous: Option<u64>,
    /// The new winning bid.
    pub bid: Bid,
}

/// `B.dateTime BETWEEN A.dateTime AND A.expires`.
pub fn in_time(a: &Auction, b: &Bid) -> bool {
    (a.date_time..=a.expires).contains(&b.date_time)
}

/// A bid's rank among an auction's bids: price, time, bidder.
pub type Rank = (u64, i64, u64);

/// The rank of `b`.
pub fn rank(b: &Bid) -> Rank {
    (b.price, b.date_time, b.bidder)
}

/// Whether a bid ranked `a` beats one ranked `b`: higher price, then
/// earlier, then the lower bidder id (the last only to make ties
/// deterministic).
pub fn beats(a: Rank, b: Rank) -> bool {
    use std::cmp::Reverse;
    (a.0, Reverse(a.1), Reverse(a.2)) > (b.0, Reverse(b.1), Reverse(b.2))
}
