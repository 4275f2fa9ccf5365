// One discord.js shard process, as a discord.js bot author writes it for ShardingManager:
// a Client with the Guilds intent. The only change for the benchmark is that REST points at
// the sandbox (BENCH_API); the gateway URL then comes from the sandbox's GET /gateway/bot.
'use strict';
const { Client, GatewayIntentBits } = require('discord.js');

const client = new Client({
  intents: [GatewayIntentBits.Guilds],
  rest: { api: process.env.BENCH_API },
});
// The token comes from the manager (DISCORD_TOKEN), as ShardingManager passes it.
client.login().catch((error) => {
  console.error(`shard login failed: ${error}`);
  process.exit(1);
});
