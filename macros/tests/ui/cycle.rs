#![allow(unused_imports)]
use tributary::codec::{Json, Utf8};
use tributary_macros::pipeline;

fn main() {
    let _ = pipeline! {
        app "loop";
        stream orders: String => u32 from "orders" (Utf8, Json);
        a -> merge(orders) => b;
        b -> filter(|_, q| *q > 0) => a;
    };
}
