// bot.js — an ordinary discord.js bot, unchanged from what discord.js's ShardingManager runs;
// manager-js.ez runs one copy per shard under the ezlang shard manager.
//
// Install discord.js next to it once:   cd examples/sharding && npm install discord.js
// Then:                                 ezlang run examples/sharding/manager-js.ez --sandbox
//
// The manager gives every copy what discord.js's own manager would (client.shard, the token in
// DISCORD_TOKEN), and more: each IDENTIFY waits for ezlang's identify queue, and with --sandbox
// or the manager's `api` option REST and the gateway point at that API.
'use strict';
const { Client, GatewayIntentBits } = require('discord.js');

const client = new Client({
  intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
});

client.once('clientReady', () => {
  console.log(`shard ${client.shard.ids[0]} of ${client.shard.count} ready with ${client.guilds.cache.size} servers`);
});

client.on('messageCreate', async (message) => {
  if (message.author.bot) return;
  if (message.content === '!ping') {
    await message.reply(`Pong from shard ${client.shard.ids[0]} of ${client.shard.count}`);
  } else if (message.content === '!totalstats') {
    // Runs in every shard (through the ezlang manager) and adds up the answers.
    const counts = await client.shard.fetchClientValues('guilds.cache.size');
    const members = await client.shard.broadcastEval((c) =>
      c.guilds.cache.reduce((sum, guild) => sum + guild.memberCount, 0),
    );
    const total = (values) => values.reduce((a, b) => a + b, 0);
    await message.reply(`${total(counts)} servers and ${total(members)} members across ${counts.length} shards`);
  }
});

client.login(); // the token comes from the manager, as from discord.js's ShardingManager
