// An ordinary discord.js bot as one writes it for discord.js's ShardingManager: nothing in it
// knows about ezlang (the sharding tests run it as shards of the ezlang manager).
'use strict';
const { Client, GatewayIntentBits } = require('discord.js');

const client = new Client({
  intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
});

client.once('clientReady', () => {
  console.log(`ready shard=${client.shard.ids[0]}/${client.shard.count} guilds=${client.guilds.cache.size}`);
});

client.on('messageCreate', async (message) => {
  if (message.author.bot) return;
  if (message.content === '!whoami') {
    await message.reply(`shard ${client.shard.ids[0]}`);
  } else if (message.content === '!total') {
    const counts = await client.shard.broadcastEval((c) => c.guilds.cache.size);
    const fetched = await client.shard.fetchClientValues('guilds.cache.size');
    const total = counts.reduce((a, b) => a + b, 0);
    await message.reply(`total ${total} on ${counts.length} shards; fetched ${fetched.join(',')}`);
  } else if (message.content === '!one') {
    // One shard's answer (discord.js's `shard` option), and an error in the evaluated code.
    const size = await client.shard.fetchClientValues('guilds.cache.size', 3);
    const id = await client.shard.broadcastEval((c) => c.shard.ids[0], { shard: 2 });
    const error = await client.shard.broadcastEval(() => nope).catch((e) => `${e.name}: ${e.message}`);
    await message.reply(`one ${size} ${id}; ${error}`);
  } else if (message.content === '!context') {
    // discord.js's context option: the function's second argument; one over max_eval_bytes
    // (the test's manager: 2 MiB) is refused with a ValueError, the shard unharmed.
    const ids = await client.shard.broadcastEval((c, ctx) => `${ctx.word}${c.shard.ids[0]}`, {
      context: { word: 'w' },
    });
    const big = { s: 'x'.repeat(3 * 1024 * 1024) };
    const error = await client.shard
      .broadcastEval((c, ctx) => ctx.s.length, { context: big })
      .catch((e) => `${e.name}: ${e.message}`);
    await message.reply(`${ids.join(',')}; ${error}`);
  } else if (message.content === '!respawnall') {
    await client.shard.respawnAll();
  } else if (message.content === '!block') {
    // A handler stuck in an endless loop: the event loop never runs again.
    console.log('blocking the event loop');
    for (;;);
  }
});

// What the manager sends (discord.js: ShardingManager#broadcast; ezlang: send_to_all_shards).
process.on('message', (data) => {
  if (data?.say) console.log(`message: ${data.say}`);
});

client.login(); // DISCORD_TOKEN, as ShardingManager passes it
