//! Every auction's winning bid, as q9's `ROW_NUMBER() OVER (PARTITION BY
//! A.id ORDER BY B.price DESC, B.dateTime ASC) = 1` and q4's inner `MAX(B.price)
//! ... GROUP BY A.id` define it: the best bid among those within the
//! auction's open time, `B.dateTime BETWEEN A.dateTime AND A.expires`.
//!
//! A processor with small stores rather than one aggregate: per record it
//! reads and writes one small entry, whatever the number of bids. Bids that
//! arrive before their auction (a bid may name an auction up to 10 ahead,
//! and the two source partitions are read at their own pace) wait, one
//! store entry each, until it comes.

use super::model::{Auction, Bid};
use super::rows::{AuctionOrBid, Rank, WinnerChange, beats, in_time, rank};
use tributary::topology::{KeyValueStore, Process, ProcessContext, ProcessInit};

/// The stores of a [`Winners`] named with `prefix`.
pub fn stores(prefix: &str) -> [String; 3] {
    ["state", "auctions", "waiting"].map(|s| format!("{prefix}-{s}"))
}

/// What a [`Winners`] knows of one auction id: one store entry, so that a
/// bid reads one entry that is there (its auction's) rather than also
/// looking up a winner that the auction's first bid does not find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum AuctionState {
    /// The auction has not arrived; this many bids wait for it.
    Waiting(u64),
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
    /// Bids waiting for their auction, numbered per auction.
    waiting: KeyValueStore<(u64, u64), Bid>,
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
        let [state, auctions, waiting] = stores(&self.prefix);
        self.stores = Some(Stores {
            state: ctx.kv_store(&state)?,
            auctions: ctx.kv_store(&auctions)?,
            waiting: ctx.kv_store(&waiting)?,
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
        let waiting = match s.state.get(&id)? {
            Some(AuctionState::Waiting(n)) => n,
            // The same auction id twice: the generator never does that.
            Some(AuctionState::Open(_)) | None => 0,
        };
        let mut best: Option<Bid> = None;
        for i in 0..waiting {
            let Some(b) = s.waiting.get(&(id, i))? else {
                continue;
            };
            s.waiting.delete(&(id, i))?;
            if in_time(&a, &b) && best.as_ref().is_none_or(|w| beats(rank(&b), rank(w))) {
                best = Some(b);
            }
        }
        let category = a.category;
        s.state.put(
            &id,
            AuctionState::Open(OpenAuction {
                start: a.date_time,
                expires: a.expires,
                category,
                best: best.as_ref().map(rank),
            }),
        )?;
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
        let open = match s.state.get(&id)? {
            Some(AuctionState::Open(open)) => open,
            waiting => {
                let n = match waiting {
                    Some(AuctionState::Waiting(n)) => n,
                    _ => 0,
                };
                s.waiting.put(&(id, n), b)?;
                return s.state.put(&id, AuctionState::Waiting(n + 1));
            }
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
