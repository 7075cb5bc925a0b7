//! Every auction's winning bid, as q9's `ROW_NUMBER() OVER (PARTITION BY
//! A.id ORDER BY B.price DESC, B.dateTime ASC) = 1` and q4's inner `MAX(B.price)
//! ... GROUP BY A.id` define it: the best bid among those within the
//! auction's open time, `B.dateTime BETWEEN A.dateTime AND A.expires`.
//!
//! A processor with small stores rather than one aggregate: per record it
//! reads and writes a few integers, whatever the number of bids. Bids that
//! arrive before their auction (a bid may name an auction up to 10 ahead,
//! and the two source partitions are read at their own pace) wait, one
//! store entry each, until it comes.

use super::model::{Auction, Bid};
use super::rows::{AuctionOrBid, Rank, WinnerChange, beats, in_time, rank};
use tributary::topology::{KeyValueStore, Process, ProcessContext, ProcessInit};

/// The stores of a [`Winners`] named with `prefix`.
pub fn stores(prefix: &str) -> [String; 5] {
    ["meta", "rank", "auctions", "waiting", "waiting-count"].map(|s| format!("{prefix}-{s}"))
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
    /// Open time and category of each auction that arrived.
    meta: KeyValueStore<u64, (i64, i64, u64)>,
    /// The winning bid's rank.
    rank: KeyValueStore<u64, Rank>,
    /// Whole auctions, when kept.
    auctions: KeyValueStore<u64, Auction>,
    /// Bids waiting for their auction, numbered per auction.
    waiting: KeyValueStore<(u64, u64), Bid>,
    waiting_count: KeyValueStore<u64, u64>,
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
        let [meta, rank, auctions, waiting, waiting_count] = stores(&self.prefix);
        self.stores = Some(Stores {
            meta: ctx.kv_store(&meta)?,
            rank: ctx.kv_store(&rank)?,
            auctions: ctx.kv_store(&auctions)?,
            waiting: ctx.kv_store(&waiting)?,
            waiting_count: ctx.kv_store(&waiting_count)?,
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
        s.meta.put(&id, (a.date_time, a.expires, a.category))?;
        let waiting = s.waiting_count.get(&id)?.unwrap_or(0);
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
        if waiting > 0 {
            s.waiting_count.delete(&id)?;
        }
        let category = a.category;
        if self.keep_auctions {
            s.auctions.put(&id, a.clone())?;
        }
        if let Some(bid) = best {
            s.rank.put(&id, rank(&bid))?;
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
        let Some((start, expires, category)) = s.meta.get(&id)? else {
            let n = s.waiting_count.get(&id)?.unwrap_or(0);
            s.waiting.put(&(id, n), b)?;
            return s.waiting_count.put(&id, n + 1);
        };
        if !(start..=expires).contains(&b.date_time) {
            return Ok(());
        }
        let previous = s.rank.get(&id)?;
        if previous.is_some_and(|p| !beats(rank(&b), p)) {
            return Ok(());
        }
        s.rank.put(&id, rank(&b))?;
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
