//! Reading one sorted set per index shard as if it were one.

use fred::{clients::Pool, interfaces::SortedSetsInterface};

use crate::{StoreResult, keys::SHARDS};

/// A member of a shard's sorted set, with its score and shard.
pub(crate) struct Scored {
    pub member: String,
    pub score: f64,
    pub shard: u32,
}

/// The lowest-scored members at or below `max_score` across every shard's
/// set (`key_of(shard)`), at most `limit`, lowest first (ties by member):
/// each shard's first `limit`, in one pipelined round trip, merged.
pub(crate) async fn lowest_over_shards(
    pool: &Pool,
    key_of: impl Fn(u32) -> String,
    max_score: i64,
    limit: usize,
) -> StoreResult<Vec<Scored>> {
    let pipeline = pool.next().pipeline();
    for shard in 0..SHARDS {
        let _: () = pipeline.zrangebyscore(key_of(shard), "-inf", max_score, true, Some((0, limit as i64))).await?;
    }
    let shards: Vec<Vec<(String, f64)>> = pipeline.all().await?;
    let mut merged: Vec<Scored> = shards
        .into_iter()
        .zip(0..SHARDS)
        .flat_map(|(members, shard)| members.into_iter().map(move |(member, score)| Scored { member, score, shard }))
        .collect();
    merged.sort_by(|a, b| a.score.total_cmp(&b.score).then_with(|| a.member.cmp(&b.member)));
    merged.truncate(limit);
    Ok(merged)
}
