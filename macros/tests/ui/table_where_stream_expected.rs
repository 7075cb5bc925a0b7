#![allow(unused_imports)]
use tributary::codec::{Json, Utf8};
use tributary_macros::pipeline;

use std::time::Duration;
use tributary::topology::JoinWindows;
fn main() {
    let _ = pipeline! {
        app "shop";
        stream orders: String => u32 from "orders" (Utf8, Json);
        table prices: String => u32 from "prices" (Utf8, Json) as "prices";
        orders -> join(prices, "priced", JoinWindows::of(Duration::from_secs(5)), |_, q, p| q * p)
               -> to("priced", Utf8, Json);
    };
}
