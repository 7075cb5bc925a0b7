//! The hopping-window count of [`windows`](crate::windows), declared with
//! `pipeline!`: it expands to the same builder calls, so its throughput
//! must equal the builder's within noise.

use anyhow::Result;
use std::time::Duration;
use tributary::Topology;
use tributary::codec::Rkyv;
use tributary::topology::{Emit, TimeWindows};
use tributary_macros::pipeline;

/// [`hopping_topology`](crate::windows::hopping_topology), with the macro.
pub fn hopping_topology() -> Result<Topology> {
    Ok(pipeline! {
        app "hopping-bench";
        stream events: u64 => u64 from "events" (Rkyv, Rkyv);
        events -> group_by_key()
               -> windowed_by(TimeWindows::hopping(Duration::from_secs(10), Duration::from_secs(2)))
               -> emit(Emit::OnWindowClose)
               -> count("counts")
               -> to_stream()
               -> to("counts", Rkyv, Rkyv);
    }?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_macro_and_the_builder_describe_the_same_topology() {
        assert_eq!(
            super::hopping_topology().unwrap().describe(),
            crate::windows::hopping_topology().unwrap().describe()
        );
    }
}
