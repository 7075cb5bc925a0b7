//! Plain implementations of the Nexmark queries over events in memory:
//! what each query's results must be. Each gives its results as sorted
//! lines, in the form [`outputs`](super::outputs) reads them from a run:
//! every result once, and for updating queries each key's final value.

use super::model::{Bid, Event};
use super::queries::{Q11_GAP, Query, euros};
use super::rows::{Q0Row, Q1Row, Q3Row, Q7Row, Q8Row, Q11Row, beats, in_time, rank};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The results of `query` over `events`, as sorted lines. q12, on
/// processing time, gives each bidder's bids summed over its windows.
pub fn results(query: Query, events: &[Event]) -> Vec<String> {
    let bids = || {
        events.iter().filter_map(|e| match e {
            Event::Bid(b) => Some(b),
            _ => None,
        })
    };
    let mut lines: Vec<String> = match query {
        Query::Q0 => bids()
            .map(|b| {
                let row = Q0Row {
                    auction: b.auction,
                    bidder: b.bidder,
                    price: b.price,
                    date_time: b.date_time,
                    extra: b.extra.clone(),
                };
                format!("{row:?}")
            })
            .collect(),
        Query::Q1 => bids()
            .map(|b| {
                let row = Q1Row {
                    auction: b.auction,
                    bidder: b.bidder,
                    price: euros(b.price),
                    date_time: b.date_time,
                    extra: b.extra.clone(),
                };
                format!("{row:?}")
            })
            .collect(),
        Query::Q2 => bids()
            .filter(|b| b.auction % 123 == 0)
            .map(|b| format!("{} {}", b.auction, b.price))
            .collect(),
        Query::Q3 => q3(events),
        Query::Q4 => q4(events),
        Query::Q5 => q5(bids()),
        Query::Q7 => q7(bids()),
        Query::Q8 => q8(events),
        Query::Q9 => winners(events)
            .into_iter()
            .map(|(id, (a, b))| {
                // The SQL's columns of the bid: auction, bidder, price,
                // dateTime, extra.
                let b = Bid {
                    channel: String::new(),
                    url: String::new(),
                    ..b.clone()
                };
                format!("{id} {a:?} {b:?}")
            })
            .collect(),
        Query::Q11 => q11(bids()),
        Query::Q12 => {
            let mut per_bidder: BTreeMap<u64, u64> = BTreeMap::new();
            for b in bids() {
                *per_bidder.entry(b.bidder).or_default() += 1;
            }
            per_bidder
                .into_iter()
                .map(|(bidder, n)| format!("{bidder} {n}"))
                .collect()
        }
    };
    lines.sort_unstable();
    lines
}

fn q3(events: &[Event]) -> Vec<String> {
    let mut persons = HashMap::new();
    for e in events {
        if let Event::Person(p) = e
            && matches!(p.state.as_str(), "OR" | "ID" | "CA")
        {
            persons.insert(p.id, p);
        }
    }
    events
        .iter()
        .filter_map(|e| match e {
            Event::Auction(a) if a.category == 10 => {
                let p = persons.get(&a.seller)?;
                let row = Q3Row {
                    name: p.name.clone(),
                    city: p.city.clone(),
                    state: p.state.clone(),
                    id: a.id,
                };
                Some(format!("{row:?}"))
            }
            _ => None,
        })
        .collect()
}

/// Every auction's winning bid: the best among the bids in its open time.
fn winners(events: &[Event]) -> BTreeMap<u64, (&super::model::Auction, &Bid)> {
    let auctions: HashMap<u64, &super::model::Auction> = events
        .iter()
        .filter_map(|e| match e {
            Event::Auction(a) => Some((a.id, a)),
            _ => None,
        })
        .collect();
    let mut best: BTreeMap<u64, (&super::model::Auction, &Bid)> = BTreeMap::new();
    for e in events {
        let Event::Bid(b) = e else { continue };
        let Some(a) = auctions.get(&b.auction) else {
            continue;
        };
        if !in_time(a, b) {
            continue;
        }
        match best.get(&a.id) {
            Some((_, current)) if !beats(rank(b), rank(current)) => {}
            _ => {
                best.insert(a.id, (a, b));
            }
        }
    }
    best
}

fn q4(events: &[Event]) -> Vec<String> {
    let mut per_category: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for (a, b) in winners(events).values() {
        let (sum, n) = per_category.entry(a.category).or_default();
        *sum += b.price;
        *n += 1;
    }
    per_category
        .into_iter()
        .map(|(category, (sum, n))| format!("{category} {:?}", sum as f64 / n as f64))
        .collect()
}

fn q5<'a>(bids: impl Iterator<Item = &'a Bid>) -> Vec<String> {
    // (window start, auction) -> bids, for 10 s windows every 2 s.
    let mut counts: BTreeMap<(i64, u64), u64> = BTreeMap::new();
    for b in bids {
        let last = b.date_time - b.date_time.rem_euclid(2_000);
        let mut start = last;
        while start > b.date_time - 10_000 {
            *counts.entry((start, b.auction)).or_default() += 1;
            start -= 2_000;
        }
    }
    let mut max: BTreeMap<i64, u64> = BTreeMap::new();
    for ((start, _), n) in &counts {
        let m = max.entry(*start).or_default();
        *m = (*m).max(*n);
    }
    counts
        .into_iter()
        .filter(|((start, _), n)| *n == max[start])
        .map(|((start, auction), n)| format!("{start} {auction} {n}"))
        .collect()
}

fn q7<'a>(bids: impl Iterator<Item = &'a Bid> + Clone) -> Vec<String> {
    let mut max: BTreeMap<i64, u64> = BTreeMap::new();
    for b in bids.clone() {
        let end = b.date_time - b.date_time.rem_euclid(10_000) + 10_000;
        let m = max.entry(end).or_default();
        *m = (*m).max(b.price);
    }
    let mut lines = Vec::new();
    for b in bids {
        // Windows whose [end - 10 s, end] holds the bid: its own, and the
        // one before when it is at that window's end.
        let own = b.date_time - b.date_time.rem_euclid(10_000) + 10_000;
        for end in [own, own - 10_000] {
            if (end - 10_000..=end).contains(&b.date_time) && max.get(&end) == Some(&b.price) {
                let row = Q7Row {
                    window_end: end,
                    bid: b.clone(),
                };
                lines.push(format!("{row:?}"));
            }
        }
    }
    lines
}

fn q8(events: &[Event]) -> Vec<String> {
    let window = |t: i64| t - t.rem_euclid(10_000);
    let sold: BTreeSet<(u64, i64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Auction(a) => Some((a.seller, window(a.date_time))),
            _ => None,
        })
        .collect();
    let mut rows = BTreeSet::new();
    for e in events {
        if let Event::Person(p) = e
            && sold.contains(&(p.id, window(p.date_time)))
        {
            let row = Q8Row {
                id: p.id,
                name: p.name.clone(),
                start: window(p.date_time),
            };
            rows.insert(format!("{row:?}"));
        }
    }
    rows.into_iter().collect()
}

fn q11<'a>(bids: impl Iterator<Item = &'a Bid>) -> Vec<String> {
    let mut times: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
    for b in bids {
        times.entry(b.bidder).or_default().push(b.date_time);
    }
    let mut lines = Vec::new();
    for (bidder, mut ts) in times {
        ts.sort_unstable();
        let mut session: Option<(i64, i64, u64)> = None;
        for t in ts {
            session = match session {
                Some((start, last, n)) if t - last < Q11_GAP => Some((start, t, n + 1)),
                done => {
                    if let Some((start, last, count)) = done {
                        lines.push(row(bidder, start, last, count));
                    }
                    Some((t, t, 1))
                }
            };
        }
        if let Some((start, last, count)) = session {
            lines.push(row(bidder, start, last, count));
        }
    }
    lines
}

fn row(bidder: u64, start: i64, last: i64, count: u64) -> String {
    let row = Q11Row {
        bidder,
        count,
        start,
        end: last + Q11_GAP,
    };
    format!("{row:?}")
}
