//! # tributary-macros
//!
//! Two macros for [Tributary](https://docs.rs/tributary) pipelines:
//!
//! - [`pipeline!`] declares a whole dataflow — its inputs, the chains of
//!   operators between them, and where results go — and expands to the
//!   builder API, so it is exactly as capable and as fast. It checks the
//!   dataflow's structure at compile time and reports problems on your
//!   tokens.
//! - [`#[derive(Event)]`](derive@Event) makes an event type's key and
//!   timestamp fields usable as extractors.
//!
//! ```
//! use tributary::codec::{Json, Utf8};
//! use tributary::testing::TestDriver;
//! use tributary_macros::pipeline;
//!
//! let topology = pipeline! {
//!     app "shop";
//!
//!     stream orders: String => u32 from "orders" (Utf8, Json);
//!
//!     orders -> filter(|_user, qty| *qty > 0) => valid;
//!     valid -> group_by_key() -> count("orders-per-user") -> to_stream()
//!           -> to("order-counts", Utf8, Json);
//! }?;
//!
//! let driver = TestDriver::new(topology)?;
//! let orders = driver.input("orders", Utf8, Json);
//! for (user, qty) in [("ann", 2u32), ("bob", 0), ("ann", 1)] {
//!     orders.pipe(user.to_string(), qty)?;
//! }
//! let counts: Vec<(String, u64)> = driver.output("order-counts", Utf8, Json).read_key_values()?;
//! assert_eq!(counts, vec![("ann".to_string(), 1), ("ann".to_string(), 2)]);
//! # Ok::<(), tributary::Error>(())
//! ```
//!
//! ## Grammar
//!
//! ```text
//! pipeline   := "app" STRING ";" item*
//! item       := source | flow
//! source     := "stream" NAME ":" TYPE "=>" TYPE "from" STRING "(" EXPR "," EXPR ")"
//!                   [ "event_time" "(" EXPR ")" ] ";"
//!             | "table"  NAME ":" TYPE "=>" TYPE "from" STRING "(" EXPR "," EXPR ")"
//!                   "as" STRING ";"
//!             | "global" NAME ":" TYPE "=>" TYPE "from" STRING "(" EXPR "," EXPR ")" ";"
//! flow       := NAME ( "->" step )* [ "=>" NAME | "->" branch ] ";"
//! step       := OPERATOR [ "::<" TYPES ">" ] "(" EXPR,* ")"
//! branch     := "branch" "{" ( EXPR "=>" NAME "," )* [ "_" "=>" NAME ] "}"
//! ```
//!
//! A source declares a topic with its key and value types (`K => V`) and
//! codecs. A flow starts at a name (a source, or the result of another
//! flow), applies operators left to right, and either names its result
//! (`=> name`), splits into named branches, or ends (typically with `to`).
//! Flows may be written in any order: each is placed after the flows
//! whose results it uses. A name may feed any number of flows (fan-out);
//! `merge` and the joins take a second name (fan-in).
//!
//! Operators are the builder's methods, with the same names and
//! arguments; closures are plain Rust. Where the builder takes another
//! stream or table (`merge`, the joins), the DSL takes its name.
//!
//! | DSL | builder |
//! |---|---|
//! | `stream s: K => V from "t" (kc, vc);` | `let s = b.stream::<K, V>("t", kc, vc);` |
//! | `stream s: K => V from "t" (kc, vc) event_time(f);` | `let s = b.stream::<K, V>("t", kc, vc).event_time(f);` |
//! | `table t: K => V from "t" (kc, vc) as "store";` | `let t = b.table::<K, V>("t", kc, vc, "store");` |
//! | `global g: K => V from "t" (kc, vc);` | `let g = b.global_table::<K, V>("t", kc, vc);` |
//! | `s -> filter(f) -> map_values(g) => out;` | `let out = s.filter(f).map_values(g).named("out");` |
//! | `s -> join(other, "name", w, f) => out;` | `let out = s.join(&other, "name", w, f).named("out");` |
//! | `s -> branch { p => a, _ => rest };` | `let [a, rest] = s.branch().on(p).otherwise().build();` |
//! | `s -> to("t", kc, vc);` | `s.to("t", kc, vc);` |
//!
//! Named streams are named operators (`Stream::named`), so
//! `Topology::describe()` shows the names of the pipeline. The whole
//! macro is an expression of type `tributary::Result<Topology>`: the
//! result of `TopologyBuilder::build()`.
//!
//! ## Each construct beside its builder equivalent
//!
//! Stateless operators, fan-out and branches:
//!
//! ```
//! use tributary::{Topology, codec::{Json, Utf8}, testing::TestDriver};
//! use tributary_macros::pipeline;
//!
//! let dsl = pipeline! {
//!     app "amounts";
//!     stream amounts: String => i64 from "amounts" (Utf8, Json);
//!     amounts -> map_values(|v| v.abs()) -> filter(|_k, v| *v > 0) => positive;
//!     positive -> branch { |_k, v| *v >= 100 => big, _ => small };
//!     big -> to("big", Utf8, Json);
//!     small -> map(|k, v| (k.to_uppercase(), v)) -> to("small", Utf8, Json);
//! }?;
//!
//! let mut b = Topology::builder("amounts");
//! let amounts = b.stream::<String, i64>("amounts", Utf8, Json);
//! let positive = amounts.map_values(|v| v.abs()).filter(|_k, v| *v > 0).named("positive");
//! let [big, small] = positive.branch().on(|_k, v| *v >= 100).otherwise().build();
//! let (big, small) = (big.named("big"), small.named("small"));
//! big.to("big", Utf8, Json);
//! small.map(|k, v| (k.to_uppercase(), v)).to("small", Utf8, Json);
//! let builder = b.build()?;
//!
//! assert_eq!(dsl.describe(), builder.describe());
//! let driver = TestDriver::new(dsl)?;
//! for v in [-500i64, 0, 7] {
//!     driver.input("amounts", Utf8, Json).pipe("k".to_string(), v)?;
//! }
//! assert_eq!(driver.output::<String, i64, _, _>("big", Utf8, Json).read_values()?, vec![500]);
//! assert_eq!(driver.output::<String, i64, _, _>("small", Utf8, Json).read_key_values()?, vec![("K".to_string(), 7)]);
//! # Ok::<(), tributary::Error>(())
//! ```
//!
//! Re-keying, aggregations and tables (`key_by` and `group_by` name their
//! repartition topic; aggregations name their store):
//!
//! ```
//! use tributary::{Topology, codec::{Json, Utf8}};
//! use tributary_macros::pipeline;
//!
//! let dsl = pipeline! {
//!     app "shop";
//!     stream orders: String => (String, u32) from "orders" (Utf8, Json);
//!     table prices: String => u32 from "prices" (Utf8, Json) as "prices";
//!     orders -> key_by("by-item", |_user, (item, _qty)| item.clone()) => by_item;
//!     by_item -> group_by_key() -> aggregate("sold", || 0u32, |_item, (_, qty), n| n + qty)
//!             -> to_stream() -> to("sold", Utf8, Json);
//!     by_item -> join_table(prices, |_item, (_, qty), price| qty * price)
//!             -> to("revenue", Utf8, Json);
//!     orders -> group_by("by-user", |user, _| user.clone())
//!            -> top_k("biggest-orders", 3, |(_, qty)| *qty) -> to_stream() -> to("top", Utf8, Json);
//! }?;
//!
//! let mut b = Topology::builder("shop");
//! let orders = b.stream::<String, (String, u32)>("orders", Utf8, Json);
//! let prices = b.table::<String, u32>("prices", Utf8, Json, "prices");
//! let by_item = orders.key_by("by-item", |_user, (item, _qty)| item.clone()).named("by_item");
//! by_item.group_by_key().aggregate("sold", || 0u32, |_item, (_, qty), n| n + qty)
//!     .to_stream().to("sold", Utf8, Json);
//! by_item.join_table(&prices, |_item, (_, qty), price| qty * price).to("revenue", Utf8, Json);
//! orders.group_by("by-user", |user, _| user.clone())
//!     .top_k("biggest-orders", 3, |(_, qty)| *qty).to_stream().to("top", Utf8, Json);
//!
//! assert_eq!(dsl.describe(), b.build()?.describe());
//! assert_eq!(dsl.store_names(), ["prices", "sold", "biggest-orders"]);
//! # Ok::<(), tributary::Error>(())
//! ```
//!
//! Event time, windows with grace and emit mode, and joins of all kinds:
//!
//! ```
//! use std::time::Duration;
//! use tributary::{Topology, codec::{Json, Utf8}};
//! use tributary::topology::{Emit, JoinWindows, SessionWindows, TimeWindows};
//! use tributary_macros::pipeline;
//! let secs = Duration::from_secs;
//!
//! let dsl = pipeline! {
//!     app "ads";
//!     stream shows: String => (String, i64) from "shows" (Utf8, Json) event_time(|_, (_, at)| *at);
//!     stream clicks: String => (String, i64) from "clicks" (Utf8, Json) event_time(|_, (_, at)| *at);
//!     table campaigns: String => String from "campaigns" (Utf8, Json) as "campaigns";
//!     global sites: String => String from "sites" (Utf8, Json);
//!
//!     shows -> group_by_key()
//!           -> windowed_by(TimeWindows::tumbling(secs(60)).grace(secs(5)))
//!           -> emit(Emit::OnWindowClose)
//!           -> count("shows-per-minute") -> to_stream()
//!           -> map(|w, n| (w.key, n)) -> to("shows-per-minute", Utf8, Json);
//!     clicks -> group_by_key() -> session_windowed_by(SessionWindows::with_gap(secs(30)))
//!            -> count("click-sessions") -> to_stream()
//!            -> map(|w, n| (w.key, n)) -> to("click-sessions", Utf8, Json);
//!     shows -> left_join(clicks, "shown-clicked", JoinWindows::of(secs(10)),
//!                        |_ad, (page, _), click| (page.clone(), click.is_some()))
//!           -> left_join_global(sites, |_ad, (page, _)| page.clone(),
//!                               |_ad, (_, clicked), site| (clicked, site.cloned()))
//!           -> join_table(campaigns, |_ad, (clicked, _), campaign| (campaign.clone(), clicked))
//!           -> to("ad-outcomes", Utf8, Json);
//! }?;
//!
//! let mut b = Topology::builder("ads");
//! let shows = b.stream::<String, (String, i64)>("shows", Utf8, Json).event_time(|_, (_, at)| *at);
//! let clicks = b.stream::<String, (String, i64)>("clicks", Utf8, Json).event_time(|_, (_, at)| *at);
//! let campaigns = b.table::<String, String>("campaigns", Utf8, Json, "campaigns");
//! let sites = b.global_table::<String, String>("sites", Utf8, Json);
//! shows.group_by_key()
//!     .windowed_by(TimeWindows::tumbling(secs(60)).grace(secs(5)))
//!     .emit(Emit::OnWindowClose)
//!     .count("shows-per-minute").to_stream()
//!     .map(|w, n| (w.key, n)).to("shows-per-minute", Utf8, Json);
//! clicks.group_by_key().session_windowed_by(SessionWindows::with_gap(secs(30)))
//!     .count("click-sessions").to_stream()
//!     .map(|w, n| (w.key, n)).to("click-sessions", Utf8, Json);
//! shows.left_join(&clicks, "shown-clicked", JoinWindows::of(secs(10)),
//!                 |_ad, (page, _), click| (page.clone(), click.is_some()))
//!     .left_join_global(&sites, |_ad, (page, _)| page.clone(),
//!                       |_ad, (_, clicked), site| (clicked, site.cloned()))
//!     .join_table(&campaigns, |_ad, (clicked, _), campaign| (campaign.clone(), clicked))
//!     .to("ad-outcomes", Utf8, Json);
//!
//! assert_eq!(dsl.describe(), b.build()?.describe());
//! # Ok::<(), tributary::Error>(())
//! ```
//!
//! ## Errors
//!
//! Structural mistakes are compile errors on the offending tokens: a name
//! that is not declared (with a suggestion), a name defined twice, a topic
//! read twice, a store or repartition name used twice, a grouping or a
//! window without an aggregation, an aggregation of an ungrouped stream, a
//! join or `group_by_key` of a stream whose keys were changed by `map`
//! without repartitioning, a table where a stream is expected, an operator
//! that does not apply, a cycle. Closures and codecs are type-checked by
//! rustc in the generated builder calls, which keep your tokens' spans.
//!
//! ## Stable names
//!
//! Store names, repartition topics and join names are the strings written
//! in the pipeline, never positions: reordering flows or adding steps
//! leaves existing state and internal topics where they are.

mod event;
mod pipeline;

use proc_macro::TokenStream;

/// Declares a pipeline and builds its topology: evaluates to
/// `tributary::Result<tributary::Topology>`. See the [crate
/// documentation](crate) for the grammar and examples.
#[proc_macro]
pub fn pipeline(input: TokenStream) -> TokenStream {
    pipeline::expand(input.into()).into()
}

/// Derives `tributary::event::EventKey` from the field marked
/// `#[event(key)]` and `tributary::event::EventTime` from the field marked
/// `#[event(timestamp)]` (an `i64` or `u64` of milliseconds since the
/// epoch, a `Duration` since the epoch, or a `SystemTime`).
///
/// The extractors work whatever the codec: the derive only reads fields.
///
/// ```
/// use tributary::{codec::{Json, Utf8}, event::{value_key, value_time}, testing::TestDriver};
/// use tributary_macros::{Event, pipeline};
///
/// #[derive(Event, Clone, serde::Serialize, serde::Deserialize,
///          rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
/// struct View {
///     #[event(key)]
///     user: String,
///     item: String,
///     #[event(timestamp)]
///     at: i64,
/// }
///
/// let topology = pipeline! {
///     app "views";
///     stream views: String => View from "views" (Utf8, Json) event_time(value_time);
///     views -> key_by("by-user", value_key) -> map_values(|v| v.item) -> to("items", Utf8, Utf8);
/// }?;
/// let driver = TestDriver::new(topology)?;
/// let view = View { user: "ann".into(), item: "pen".into(), at: 42 };
/// driver.input("views", Utf8, Json).pipe("device-1".to_string(), view)?;
/// let out = driver.output::<String, String, _, _>("items", Utf8, Utf8).read_records()?;
/// assert_eq!((out[0].key.as_str(), out[0].timestamp), ("ann", 42));
/// # Ok::<(), tributary::Error>(())
/// ```
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    event::expand(input.into()).into()
}

/// The README's examples, compiled and run as doc tests (here, where both
/// `tributary` and these macros are at hand).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
