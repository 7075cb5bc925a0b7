//! The Nexmark queries, written with Tributary's public API as the SQL of
//! the Nexmark repository defines them: event time from `date_time`, a
//! 4 s watermark delay (`Config::max_out_of_orderness`), q12 on
//! processing time. Each reads [`EVENTS_TOPIC`] and writes [`OUT_TOPIC`].

use super::model::{Auction, Bid, Event};
use super::rows::{
    AuctionOrBid, Q0Row, Q1Row, Q3Row, Q7Candidate, Q7Row, Q8Row, Q8Side, Q11Row, WinnerChange,
};
use super::winners::{self, Winners};
use std::collections::BTreeMap;
use std::time::Duration;
use tributary::codec::{Codec, Unit};
use tributary::topology::{
    Emit, JoinWindows, Process, ProcessContext, SessionWindows, TimeWindows, Windowed,
};
use tributary::{Stream, Topology, TopologyBuilder};

/// The topic the events are loaded into.
pub const EVENTS_TOPIC: &str = "nexmark-events";
/// The topic every query writes its results to.
pub const OUT_TOPIC: &str = "nexmark-out";
/// Partitions of both topics.
pub const PARTITIONS: u32 = 2;
/// Nexmark's watermark delay.
pub const WATERMARK_DELAY: Duration = Duration::from_secs(4);

/// A Nexmark query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Query {
    /// Pass-through of bids.
    Q0,
    /// Bid prices converted to euros.
    Q1,
    /// Bids on every 123rd auction.
    Q2,
    /// Sellers in OR, ID or CA of auctions in category 10 (a join).
    Q3,
    /// Average winning price per category.
    Q4,
    /// Hottest auctions: most bids in 10 s windows sliding by 2 s.
    Q5,
    /// Highest bids in 10 s tumbling windows.
    Q7,
    /// Persons who opened an auction in the 10 s window they appeared in.
    Q8,
    /// Winning bid of every auction.
    Q9,
    /// Bids per bidder session (10 s gap).
    Q11,
    /// Bids per bidder in 10 s processing-time windows.
    Q12,
}

impl Query {
    /// Every query, in order.
    pub const ALL: [Query; 11] = [
        Query::Q0,
        Query::Q1,
        Query::Q2,
        Query::Q3,
        Query::Q4,
        Query::Q5,
        Query::Q7,
        Query::Q8,
        Query::Q9,
        Query::Q11,
        Query::Q12,
    ];

    /// The query's name, `q0` ...
    pub fn name(self) -> &'static str {
        match self {
            Query::Q0 => "q0",
            Query::Q1 => "q1",
            Query::Q2 => "q2",
            Query::Q3 => "q3",
            Query::Q4 => "q4",
            Query::Q5 => "q5",
            Query::Q7 => "q7",
            Query::Q8 => "q8",
            Query::Q9 => "q9",
            Query::Q11 => "q11",
            Query::Q12 => "q12",
        }
    }
}

impl std::str::FromStr for Query {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Query::ALL
            .into_iter()
            .find(|q| q.name() == s)
            .ok_or_else(|| format!("unknown query '{s}' (q0-q5, q7-q9, q11, q12)"))
    }
}

/// What the events and results are encoded with: JSON or rkyv, for
/// every type the queries read or write.
pub trait Format:
    Codec<Event>
    + Codec<Bid>
    + Codec<Q0Row>
    + Codec<Q1Row>
    + Codec<(u64, u64)>
    + Codec<Q3Row>
    + Codec<u64>
    + Codec<f64>
    + Codec<i64>
    + Codec<(u64, Vec<u64>)>
    + Codec<Q7Row>
    + Codec<Q8Row>
    + Codec<(Auction, Bid)>
    + Codec<Q11Row>
    + Codec<(u64, i64)>
{
}

impl<C> Format for C where
    C: Codec<Event>
        + Codec<Bid>
        + Codec<Q0Row>
        + Codec<Q1Row>
        + Codec<(u64, u64)>
        + Codec<Q3Row>
        + Codec<u64>
        + Codec<f64>
        + Codec<i64>
        + Codec<(u64, Vec<u64>)>
        + Codec<Q7Row>
        + Codec<Q8Row>
        + Codec<(Auction, Bid)>
        + Codec<Q11Row>
        + Codec<(u64, i64)>
{
}

/// The topology of `query`, reading and writing with `format`.
pub fn topology<C: Format>(query: Query, format: C) -> tributary::Result<Topology> {
    let mut b = Topology::builder(&format!("nexmark-{}", query.name()));
    let events = events(&mut b, format.clone());
    let c = format;
    match query {
        Query::Q0 => bids(&events).map_values(Q0Row::from).to(OUT_TOPIC, Unit, c),
        Query::Q1 => bids(&events)
            .map_values(|b| Q1Row {
                auction: b.auction,
                bidder: b.bidder,
                price: euros(b.price),
                date_time: b.date_time,
                extra: b.extra,
            })
            .to(OUT_TOPIC, Unit, c),
        Query::Q2 => bids(&events)
            .filter(|_, b| b.auction % 123 == 0)
            .map_values(|b| (b.auction, b.price))
            .to(OUT_TOPIC, Unit, c),
        Query::Q3 => q3(&events).to(OUT_TOPIC, Unit, c),
        Query::Q4 => q4(&events).to(OUT_TOPIC, c.clone(), c),
        Query::Q5 => q5(&events).to(OUT_TOPIC, c.clone(), c),
        Query::Q7 => q7(&events).to(OUT_TOPIC, Unit, c),
        Query::Q8 => q8(&events).to(OUT_TOPIC, Unit, c),
        // The bid has the SQL's columns: channel and url are left empty.
        Query::Q9 => winners(&events, "q9", true)
            .flat_map(|id, c| Some((id, (c.auction?, c.bid))))
            .to(OUT_TOPIC, c.clone(), c),
        Query::Q11 => q11(&events).to(OUT_TOPIC, Unit, c),
        Query::Q12 => q12(&events).to(OUT_TOPIC, c.clone(), c),
    }
    b.build()
}

/// Dollars to euros, as Nexmark's q1 converts them.
pub fn euros(price: u64) -> f64 {
    price as f64 * 0.908
}

fn events<C: Codec<Event>>(b: &mut TopologyBuilder, format: C) -> Stream<(), Event> {
    b.stream::<(), Event>(EVENTS_TOPIC, Unit, format)
        .event_time(|_, e| e.date_time())
}

fn bids(events: &Stream<(), Event>) -> Stream<(), Bid> {
    events.flat_map(|k, e| match e {
        Event::Bid(b) => Some((k, b)),
        _ => None,
    })
}

/// A regular (unwindowed) join: a window longer than any run.
fn forever() -> JoinWindows {
    JoinWindows::of(Duration::from_secs(100 * 365 * 86_400))
}

/// q3: `SELECT P.name, P.city, P.state, A.id FROM auction A INNER JOIN
/// person P ON A.seller = P.id WHERE A.category = 10 AND P.state IN
/// ('OR', 'ID', 'CA')`.
fn q3(events: &Stream<(), Event>) -> Stream<(), Q3Row> {
    let auctions = events
        .flat_map(|_, e| match e {
            Event::Auction(a) if a.category == 10 => Some(((), (a.seller, a.id))),
            _ => None,
        })
        .key_by("q3-auctions-by-seller", |_, (seller, _)| *seller);
    let persons = events
        .flat_map(|_, e| match e {
            Event::Person(p) if matches!(p.state.as_str(), "OR" | "ID" | "CA") => {
                Some(((), (p.id, p.name, p.city, p.state)))
            }
            _ => None,
        })
        .key_by("q3-persons-by-id", |_, (id, ..)| *id);
    auctions
        .join(
            &persons,
            "q3-join",
            forever(),
            |_, (_, id), (_, name, city, state)| Q3Row {
                name: name.clone(),
                city: city.clone(),
                state: state.clone(),
                id: *id,
            },
        )
        .map(|_, row| ((), row))
}

/// Every change of an auction's winning bid (see [`Winners`]).
fn winners(
    events: &Stream<(), Event>,
    prefix: &str,
    keep_auctions: bool,
) -> Stream<u64, WinnerChange> {
    let stores = winners::stores(prefix);
    let stores: Vec<&str> = stores.iter().map(String::as_str).collect();
    let prefix = prefix.to_owned();
    // Only the columns the query reads cross the repartition (as a SQL
    // planner pushes projections down): q9 outputs whole auctions and the
    // bid's auction, bidder, price, dateTime and extra; q4 reads ids,
    // times, prices and categories.
    events
        .flat_map(move |_, e| match e {
            Event::Auction(a) if keep_auctions => Some(((), AuctionOrBid::Auction(a))),
            Event::Auction(a) => Some((
                (),
                AuctionOrBid::Auction(Auction {
                    item_name: String::new(),
                    description: String::new(),
                    extra: String::new(),
                    ..a
                }),
            )),
            Event::Bid(b) => Some((
                (),
                AuctionOrBid::Bid(Bid {
                    channel: String::new(),
                    url: String::new(),
                    extra: if keep_auctions {
                        b.extra
                    } else {
                        String::new()
                    },
                    ..b
                }),
            )),
            Event::Person(_) => None,
        })
        .key_by(&format!("{prefix}-by-auction"), |_, e| match e {
            AuctionOrBid::Auction(a) => a.id,
            AuctionOrBid::Bid(b) => b.auction,
        })
        .process(&format!("{prefix}-winners"), &stores, move || {
            Winners::new(&prefix, keep_auctions)
        })
}

/// q4: `SELECT Q.category, AVG(Q.final) FROM (SELECT MAX(B.price) AS
/// final, A.category FROM auction A, bid B WHERE A.id = B.auction AND
/// B.dateTime BETWEEN A.dateTime AND A.expires GROUP BY A.id, A.category)
/// Q GROUP BY Q.category`: each change of an auction's maximum retracts
/// the old one from its category's sum.
fn q4(events: &Stream<(), Event>) -> Stream<u64, f64> {
    winners(events, "q4", false)
        .map(|_, c| {
            let delta = c.bid.price - c.previous.unwrap_or(0);
            ((), (c.category, delta, c.previous.is_none()))
        })
        .group_by("q4-by-category", |_, (category, ..)| *category)
        .aggregate(
            "q4-sums",
            || (0u64, 0u64),
            |_, (_, delta, new), (sum, n)| (sum + delta, n + u64::from(new)),
        )
        .to_stream()
        .map_values(|(sum, n)| sum as f64 / n as f64)
}

/// q5: auctions with the most bids (`num >= maxn`) in each 10 s window
/// sliding by 2 s. Keyed by window start: the count and the auctions
/// with it, updated as the window's counts arrive.
fn q5(events: &Stream<(), Event>) -> Stream<i64, (u64, Vec<u64>)> {
    bids(events)
        .map(|_, b| ((), b.auction))
        .key_by("q5-by-auction", |_, auction| *auction)
        .group_by_key()
        .windowed_by(TimeWindows::hopping(
            Duration::from_secs(10),
            Duration::from_secs(2),
        ))
        .emit(Emit::OnWindowClose)
        .count("q5-counts")
        .to_stream()
        .map(|w: Windowed<u64>, n| ((), (w.start, w.key, n)))
        .group_by("q5-by-window", |_, (start, ..)| *start)
        .aggregate(
            "q5-hottest",
            || (0u64, Vec::new()),
            |_, (_, auction, n), (max, mut hottest): (u64, Vec<u64>)| {
                if n > max {
                    (n, vec![auction])
                } else {
                    if n == max {
                        hottest.push(auction);
                    }
                    (max, hottest)
                }
            },
        )
        .to_stream()
}

/// The width of q7's windows, in ms.
const Q7_WINDOW: i64 = 10_000;

/// q7's first step, in each source task: only bids that may be a
/// window's highest pass (at least the highest this task saw in their
/// window), and a bid at a window's end once more for the window before,
/// whose `BETWEEN` includes its end.
#[derive(Debug, Default)]
struct Q7Candidates {
    highest: BTreeMap<i64, u64>,
}

impl Process<(), Event> for Q7Candidates {
    type Key = ();
    type Value = Q7Candidate;

    fn process(&mut self, ctx: &mut ProcessContext<'_, (), Q7Candidate>, _: (), e: Event) {
        let Event::Bid(bid) = e else { return };
        let start = bid.date_time - bid.date_time.rem_euclid(Q7_WINDOW);
        if bid.date_time == start
            && self
                .highest
                .get(&(start - Q7_WINDOW))
                .is_none_or(|h| bid.price >= *h)
        {
            ctx.forward_at(
                (),
                Q7Candidate {
                    bid: bid.clone(),
                    at_end: true,
                },
                bid.date_time - 1,
            );
        }
        let highest = self.highest.entry(start).or_insert(0);
        if bid.price >= *highest {
            *highest = bid.price;
            ctx.forward((), Q7Candidate { bid, at_end: false });
        }
        let watermark = ctx.watermark();
        while let Some((&s, _)) = self.highest.first_key_value() {
            if s + 3 * Q7_WINDOW >= watermark {
                break;
            }
            self.highest.pop_first();
        }
    }
}

/// q7: `SELECT B.* FROM bid B JOIN (SELECT MAX(price) AS maxprice,
/// window_end AS dateTime FROM TUMBLE(bid, dateTime, 10 s) GROUP BY
/// window_start, window_end) B1 ON B.price = B1.maxprice WHERE B.dateTime
/// BETWEEN B1.dateTime - 10 s AND B1.dateTime`.
fn q7(events: &Stream<(), Event>) -> Stream<(), Q7Row> {
    events
        .process("q7-candidates", &[], Q7Candidates::default)
        .key_by("q7-all", |_, _| ())
        .group_by_key()
        .windowed_by(TimeWindows::tumbling(Duration::from_millis(
            Q7_WINDOW as u64,
        )))
        .emit(Emit::OnWindowClose)
        .aggregate(
            "q7-highest",
            || (0u64, Vec::<Bid>::new(), Vec::<Bid>::new()),
            |_, c: Q7Candidate, (max, mut inside, mut at_end)| {
                if c.at_end {
                    if c.bid.price >= max {
                        at_end.push(c.bid);
                    }
                    (max, inside, at_end)
                } else if c.bid.price > max {
                    let max = c.bid.price;
                    at_end.retain(|b| b.price >= max);
                    (max, vec![c.bid], at_end)
                } else {
                    if c.bid.price == max {
                        inside.push(c.bid);
                    }
                    (max, inside, at_end)
                }
            },
        )
        .to_stream()
        .flat_map(|w, (max, inside, at_end)| {
            let none = inside.is_empty();
            inside
                .into_iter()
                .chain(at_end.into_iter().filter(move |b| !none && b.price == max))
                .map(move |bid| {
                    (
                        (),
                        Q7Row {
                            window_end: w.end,
                            bid,
                        },
                    )
                })
                .collect::<Vec<_>>()
        })
}

/// q8: persons who opened an auction within the 10 s tumbling window in
/// which they appeared: `P.id = A.seller AND P.starttime = A.starttime`.
fn q8(events: &Stream<(), Event>) -> Stream<(), Q8Row> {
    events
        .flat_map(|_, e| match e {
            Event::Person(p) => Some(((), (p.id, Q8Side::Person(p.name)))),
            Event::Auction(a) => Some(((), (a.seller, Q8Side::Auction))),
            Event::Bid(_) => None,
        })
        .key_by("q8-by-person", |_, (id, _)| *id)
        .map_values(|(_, side)| side)
        .group_by_key()
        .windowed_by(TimeWindows::tumbling(Duration::from_secs(10)))
        .emit(Emit::OnWindowClose)
        .aggregate(
            "q8-window",
            || (None::<String>, false),
            |_, side, (name, sold)| match side {
                Q8Side::Person(n) => (Some(n), sold),
                Q8Side::Auction => (name, true),
            },
        )
        .to_stream()
        .flat_map(|w, (name, sold)| match name {
            Some(name) if sold => Some((
                (),
                Q8Row {
                    id: w.key,
                    name,
                    start: w.start,
                },
            )),
            _ => None,
        })
}

/// q11's session gap, in ms.
pub const Q11_GAP: i64 = 10_000;

/// q11: bids per bidder session, sessions closing after 10 s without a
/// bid (Flink's `SESSION(..., 10 s)`: bids less than 10 s apart share a
/// session; `end` is the last bid's time plus the gap).
fn q11(events: &Stream<(), Event>) -> Stream<(), Q11Row> {
    bids(events)
        .map(|_, b| ((), b.bidder))
        .key_by("q11-by-bidder", |_, bidder| *bidder)
        .group_by_key()
        // Tributary's sessions join records up to the gap apart, Flink's
        // those less than the gap apart.
        .session_windowed_by(SessionWindows::with_gap(Duration::from_millis(
            Q11_GAP as u64 - 1,
        )))
        .emit(Emit::OnWindowClose)
        .count("q11-sessions")
        .to_stream()
        .map(|w, count| {
            (
                (),
                Q11Row {
                    bidder: w.key,
                    count,
                    start: w.start,
                    end: w.end + Q11_GAP,
                },
            )
        })
}

/// q12: bids per bidder in 10 s tumbling windows of processing time,
/// keyed by (bidder, window start); each window's count as it grows.
fn q12(events: &Stream<(), Event>) -> Stream<(u64, i64), u64> {
    bids(events)
        .map(|_, b| {
            let now = tributary::now_millis();
            ((), (b.bidder, now - now.rem_euclid(10_000)))
        })
        .key_by("q12-by-bidder-window", |_, key| *key)
        .group_by_key()
        .count("q12-counts")
        .to_stream()
}
