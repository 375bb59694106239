//! What Redis did during a measured interval, from `INFO cpu` and
//! `INFO commandstats`: its CPU time, and the commands it ran per check-in
//! (commands run inside a Lua script are counted too, under their own names).
//! Redis may be shared, so other clients' work shows up here as well.

use std::collections::BTreeMap;

use attn_store::redis::RedisSettings;
use fred::{clients::Pool, interfaces::ClientLike, types::InfoKind};
use serde::Serialize;

pub struct RedisProbe {
    pool: Pool,
}

#[derive(Debug, Clone, Default)]
pub struct RedisSample {
    cpu_secs: f64,
    /// Command → (calls, microseconds).
    commands: BTreeMap<String, (u64, u64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RedisFigures {
    pub cpu_secs: f64,
    /// Command → calls per check-in (only commands seen at least once per 100 check-ins).
    pub commands_per_call: BTreeMap<String, f64>,
    /// Command → microseconds of Redis time per check-in.
    pub usec_per_call: BTreeMap<String, f64>,
}

impl RedisProbe {
    pub async fn connect(settings: &RedisSettings) -> anyhow::Result<Self> {
        Ok(Self { pool: attn_store::redis::connect_pool(settings).await? })
    }

    pub async fn sample(&self) -> RedisSample {
        let client = self.pool.next();
        let cpu: String = client.info(Some(InfoKind::Cpu)).await.unwrap_or_default();
        let stats: String = client.info(Some(InfoKind::CommandStats)).await.unwrap_or_default();
        parse(&cpu, &stats)
    }
}

fn parse(cpu: &str, stats: &str) -> RedisSample {
    let field = |name: &str| {
        cpu.lines()
            .find_map(|line| line.strip_prefix(name).and_then(|v| v.strip_prefix(':')))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let cpu_secs = field("used_cpu_user") + field("used_cpu_sys");
    let commands = stats
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let value =
                |key: &str| rest.split(',').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse::<u64>().ok());
            Some((name.to_owned(), (value("calls")?, value("usec").unwrap_or(0))))
        })
        .collect();
    RedisSample { cpu_secs, commands }
}

pub fn figures(before: &RedisSample, after: &RedisSample, calls: u64) -> RedisFigures {
    let per = calls.max(1) as f64;
    let mut commands_per_call = BTreeMap::new();
    let mut usec_per_call = BTreeMap::new();
    for (name, (calls_after, usec_after)) in &after.commands {
        let (calls_before, usec_before) = before.commands.get(name).copied().unwrap_or_default();
        let count = calls_after.saturating_sub(calls_before) as f64 / per;
        if count >= 0.01 {
            commands_per_call.insert(name.clone(), count);
            usec_per_call.insert(name.clone(), usec_after.saturating_sub(usec_before) as f64 / per);
        }
    }
    RedisFigures { cpu_secs: after.cpu_secs - before.cpu_secs, commands_per_call, usec_per_call }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_sections_are_read() {
        let sample = parse(
            "# CPU\r\nused_cpu_sys:1.50\r\nused_cpu_user:2.25\r\n",
            "# Commandstats\r\ncmdstat_evalsha:calls=10,usec=200,usec_per_call=20.00\r\ncmdstat_get:calls=3,usec=3\r\n",
        );
        assert!((sample.cpu_secs - 3.75).abs() < 1e-9);
        assert_eq!(sample.commands.get("evalsha"), Some(&(10, 200)));
        let after = parse("", "cmdstat_evalsha:calls=30,usec=600\r\n");
        let figures = figures(&sample, &after, 10);
        assert_eq!(figures.commands_per_call.get("evalsha"), Some(&2.0));
    }
}
