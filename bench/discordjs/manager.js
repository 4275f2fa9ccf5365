// discord.js's ShardingManager driven by bench/discordjs_bench.py.
//
// argv: totalShards spawnDelayMs rounds
// env:  BENCH_API (sandbox REST base without /v10), DISCORD_TOKEN
// stdout: one JSON line when the shards are READY and the broadcastEval rounds are done
//         ({ready_s, pids, guilds, eval_ms}); then it waits for a line on stdin (the Python side
//         measures the shard processes' memory meanwhile) and stops the shards.
// Progress and errors go to stderr.
'use strict';
const path = require('node:path');
const readline = require('node:readline');
const { performance } = require('node:perf_hooks');
const { ShardingManager } = require('discord.js');

async function main() {
  const [totalShards, delay, rounds] = process.argv.slice(2).map(Number);
  const manager = new ShardingManager(path.join(__dirname, 'bot.js'), {
    totalShards,
    token: process.env.DISCORD_TOKEN,
    respawn: false,
  });
  manager.on('shardCreate', (shard) => console.error(`discord.js: shard ${shard.id} created`));

  const started = performance.now();
  await manager.spawn({ amount: totalShards, delay, timeout: 120_000 });
  const readyS = (performance.now() - started) / 1000;

  const evalGuilds = (client) => client.guilds.cache.size;
  for (let i = 0; i < 50; i++) await manager.broadcastEval(evalGuilds); // warm-up
  const evalMs = [];
  let counts = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    counts = await manager.broadcastEval(evalGuilds);
    evalMs.push(performance.now() - t);
  }
  const pids = [...manager.shards.values()].map((shard) => shard.process.pid);
  process.stdout.write(
    `${JSON.stringify({ ready_s: readyS, pids, guilds: counts, eval_ms: evalMs })}\n`,
  );

  const stdin = readline.createInterface({ input: process.stdin });
  await new Promise((resolve) => stdin.once('line', resolve).once('close', resolve));
  stdin.close();
  // Stop every shard and wait until its process has exited, so none outlives the manager.
  await Promise.all(
    [...manager.shards.values()].map(
      (shard) =>
        new Promise((resolve) => {
          if (shard.process.exitCode !== null || shard.process.signalCode !== null) resolve();
          else {
            shard.process.once('exit', resolve);
            shard.kill();
          }
        }),
    ),
  );
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`discord.js manager failed: ${error?.stack ?? error}`);
    process.exit(1);
  },
);
