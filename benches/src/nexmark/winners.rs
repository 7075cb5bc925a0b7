//! Every auction's winning bid, as q9's `ROW_NUMBER() OVER (PARTITION BY
//! A.id ORDER BY B.price DESC, B.dateTime ASC) = 1` and q4's inner `MAX(B.price)
//! ... GROUP BY A.id` define it: the best bid among those within the
//! auction's open time, `B.dateTime BETWEEN A.dateTime AND A.expires`.
//!
//! A processor with small stores rather than one aggregate: per record it
//! reads and writes one small entry, whatever the number of bids. Bids that
//! arrive before their auction (a bid may name an auction up to 10 ahead,
//! and the two source partitions are read at their own pace: about 30% of
//! the bids of a 5M-event run) wait in their auction's entry until it
//! comes.

use super::model::{Auction, Bid};
use super::rows::{AuctionOrBid, Rank, WinnerChange, beats, in_time, rank};
use tributary::topology::{KeyValueStore, Process, ProcessContext, ProcessInit};

/// The stores of a [`Winners`] named with `prefix`.
pub fn stores(prefix: &str) -> [String; 2] {
    ["state", "auctions"].map(|s| format!("{prefix}-{s}"))
}

/// What a [`Winners`] knows of one auction id: one store entry, so that a
/// bid reads one entry that is there (its auction's) rather than also
/// looking up a winner that the auction's first bid does not find.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum AuctionState {
    /// The auction has not arrived; these bids wait for it.
    Waiting(Vec<Bid>),
    /// The auction arrived.
    Open(OpenAuction),
}

/// An auction that arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct OpenAuction {
    /// Its open time.
    pub start: i64,
    /// When it closes.
    pub expires: i64,
    /// Its category.
    pub category: u64,
    /// The winning bid's rank, once there is one.
    pub best: Option<Rank>,
}

/// Emits an auction's new winning bid each time it changes.
#[derive(Debug)]
pub struct Winners {
    prefix: String,
    keep_auctions: bool,
    stores: Option<Stores>,
}

#[derive(Debug)]
struct Stores {
    /// Each auction id's [`AuctionState`].
    state: KeyValueStore<u64, AuctionState>,
    /// Whole auctions, when kept.
    auctions: KeyValueStore<u64, Auction>,
}

impl Winners {
    /// A processor using the stores [`stores`]`(prefix)` gives; with
    /// `keep_auctions`, changes carry the whole auction.
    pub fn new(prefix: &str, keep_auctions: bool) -> Self {
        Winners {
            prefix: prefix.to_owned(),
            keep_auctions,
            stores: None,
        }
    }
}

impl Process<u64, AuctionOrBid> for Winners {
    type Key = u64;
    type Value = WinnerChange;

    fn init(&mut self, ctx: &mut ProcessInit<'_, '_>) -> tributary::Result<()> {
        let [state, auctions] = stores(&self.prefix);
        self.stores = Some(Stores {
            state: ctx.kv_store(&state)?,
            auctions: ctx.kv_store(&auctions)?,
        });
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessContext<'_, u64, WinnerChange>,
        id: u64,
        e: AuctionOrBid,
    ) {
        let Some(s) = &self.stores else { return };
        let result = match e {
            AuctionOrBid::Auction(a) => self.auction(s, ctx, id, a),
            AuctionOrBid::Bid(b) => self.bid(s, ctx, id, b),
        };
        if let Err(e) = result {
            panic!("winning bids of auction {id}: {e}");
        }
    }
}

impl Winners {
    fn auction(
        &self,
        s: &Stores,
        ctx: &mut ProcessContext<'_, u64, WinnerChange>,
        id: u64,
        a: Auction,
    ) -> tributary::Result<()> {
        let category = a.category;
        let best = s.state.update(&id, |state| {
            let waiting = match state.take() {
                Some(AuctionState::Waiting(bids)) => bids,
                // The same auction id twice: the generator never does that.
                Some(AuctionState::Open(_)) | None => Vec::new(),
            };
            let best = waiting
                .into_iter()
                .filter(|b| in_time(&a, b))
                .reduce(|w, b| if beats(rank(&b), rank(&w)) { b } else { w });
            *state = Some(AuctionState::Open(OpenAuction {
                start: a.date_time,
                expires: a.expires,
                category,
                best: best.as_ref().map(rank),
            }));
            best
        })?;
        if self.keep_auctions {
            s.auctions.put(&id, a.clone())?;
        }
        if let Some(bid) = best {
            let auction = self.keep_auctions.then_some(a);
            ctx.forward(
                id,
                WinnerChange {
                    auction,
                    category,
                    previous: None,
                    bid,
                },
            );
        }
        Ok(())
    }

    fn bid(
        &self,
        s: &Stores,
        ctx: &mut ProcessContext<'_, u64, WinnerChange>,
        id: u64,
        b: Bid,
    ) -> tributary::Result<()> {
        let open = s.state.read(&id, |state| match state {
            Some(AuctionState::Open(open)) => Some(*open),
            _ => None,
        })?;
        let Some(open) = open else {
            return s.state.update(&id, |state| match state {
                Some(AuctionState::Waiting(bids)) => bids.push(b),
                _ => *state = Some(AuctionState::Waiting(vec![b])),
            });
        };
        if !(open.start..=open.expires).contains(&b.date_time) {
            return Ok(());
        }
        let previous = open.best;
        if previous.is_some_and(|p| !beats(rank(&b), p)) {
            return Ok(());
        }
        s.state.put(
            &id,
            AuctionState::Open(OpenAuction {
                best: Some(rank(&b)),
                ..open
            }),
        )?;
        let category = open.category;
        let auction = if self.keep_auctions {
            s.auctions.get(&id)?
        } else {
            None
        };
        ctx.forward(
            id,
            WinnerChange {
                auction,
                category,
                previous: previous.map(|(price, ..)| price),
                bid: b,
            },
        );
        Ok(())
    }
}
