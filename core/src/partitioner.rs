//! Choosing a partition for a key, compatible with Apache Kafka.
//!
//! Kafka's default partitioner hashes the key bytes with murmur2 (seed
//! `0x9747b28c`), clears the sign bit and takes the result modulo the partition
//! count. Using the same function means that a record produced by any Kafka
//! client with the same key bytes lands on the same partition as one written by
//! Tributary, so topics written from outside stay co-partitioned with ours.

/// Kafka's murmur2 hash of `data`, as `org.apache.kafka.common.utils.Utils.murmur2`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for `key` among `partitions`.
///
/// # Examples
///
/// ```
/// // Kafka puts key "foobar" on partition 2 of a 4-partition topic.
/// assert_eq!(tributary::partition_for_key(b"foobar", 4), 2);
/// ```
///
/// # Panics
///
/// Panics if `partitions` is zero.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    assert!(partitions > 0, "a topic has at least one partition");
    ((murmur2(key) & 0x7fff_ffff) as u32) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases of Kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_kafka() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(
                murmur2(key),
                expected,
                "key {:?}",
                String::from_utf8_lossy(key)
            );
        }
    }

    /// Partitions Kafka's `toPositive(murmur2(key)) % n` gives for those keys.
    #[test]
    fn partitions_match_kafka() {
        // -790332482 & 0x7fffffff = 1357151166; % 4 = 2, % 10 = 6
        assert_eq!(partition_for_key(b"foobar", 4), 2);
        assert_eq!(partition_for_key(b"foobar", 10), 6);
        // -973932308 & 0x7fffffff = 1173551340; % 3 = 0, % 7 = 3
        assert_eq!(partition_for_key(b"21", 3), 0);
        assert_eq!(partition_for_key(b"21", 7), 3);
        // 479470107 % 6 = 3, % 10 = 7
        assert_eq!(partition_for_key(b"abc", 6), 3);
        assert_eq!(partition_for_key(b"abc", 10), 7);
        assert_eq!(partition_for_key(b"anything", 1), 0);
    }
}
