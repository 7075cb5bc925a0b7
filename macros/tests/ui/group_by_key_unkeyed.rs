#![allow(unused_imports)]
use tributary::codec::{Json, Utf8};
use tributary_macros::pipeline;

fn main() {
    let _ = pipeline! {
        app "shop";
        stream orders: String => (String, u32) from "orders" (Utf8, Json);
        orders -> map(|_, (item, q)| (item, q)) -> group_by_key() -> count("per-item")
               -> to("counts", Utf8, Json);
    };
}
