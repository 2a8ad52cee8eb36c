package sas

// Transcribed from matrix-org/matrix-spec data-definitions/sas-emoji.json
// (commit d0ba2aaef801e0134a4e5c6054a2c2f41bb55531); TestEmojiTable checks it
// against the copy in vectors/data.

// emojiTable is the SAS emoji table of the specification, indexed by the
// 6-bit value. Each entry gives the emoji as a string (with U+FE0F where the
// specification has it) and its English description.
var emojiTable = [64]Emoji{
	{Index: 0, Symbol: "\U0001F436", Description: "Dog"},          // 🐶 U+1F436
	{Index: 1, Symbol: "\U0001F431", Description: "Cat"},          // 🐱 U+1F431
	{Index: 2, Symbol: "\U0001F981", Description: "Lion"},         // 🦁 U+1F981
	{Index: 3, Symbol: "\U0001F40E", Description: "Horse"},        // 🐎 U+1F40E
	{Index: 4, Symbol: "\U0001F984", Description: "Unicorn"},      // 🦄 U+1F984
	{Index: 5, Symbol: "\U0001F437", Description: "Pig"},          // 🐷 U+1F437
	{Index: 6, Symbol: "\U0001F418", Description: "Elephant"},     // 🐘 U+1F418
	{Index: 7, Symbol: "\U0001F430", Description: "Rabbit"},       // 🐰 U+1F430
	{Index: 8, Symbol: "\U0001F43C", Description: "Panda"},        // 🐼 U+1F43C
	{Index: 9, Symbol: "\U0001F413", Description: "Rooster"},      // 🐓 U+1F413
	{Index: 10, Symbol: "\U0001F427", Description: "Penguin"},     // 🐧 U+1F427
	{Index: 11, Symbol: "\U0001F422", Description: "Turtle"},      // 🐢 U+1F422
	{Index: 12, Symbol: "\U0001F41F", Description: "Fish"},        // 🐟 U+1F41F
	{Index: 13, Symbol: "\U0001F419", Description: "Octopus"},     // 🐙 U+1F419
	{Index: 14, Symbol: "\U0001F98B", Description: "Butterfly"},   // 🦋 U+1F98B
	{Index: 15, Symbol: "\U0001F337", Description: "Flower"},      // 🌷 U+1F337
	{Index: 16, Symbol: "\U0001F333", Description: "Tree"},        // 🌳 U+1F333
	{Index: 17, Symbol: "\U0001F335", Description: "Cactus"},      // 🌵 U+1F335
	{Index: 18, Symbol: "\U0001F344", Description: "Mushroom"},    // 🍄 U+1F344
	{Index: 19, Symbol: "\U0001F30F", Description: "Globe"},       // 🌏 U+1F30F
	{Index: 20, Symbol: "\U0001F319", Description: "Moon"},        // 🌙 U+1F319
	{Index: 21, Symbol: "\u2601\uFE0F", Description: "Cloud"},     // ☁️ U+2601U+FE0F
	{Index: 22, Symbol: "\U0001F525", Description: "Fire"},        // 🔥 U+1F525
	{Index: 23, Symbol: "\U0001F34C", Description: "Banana"},      // 🍌 U+1F34C
	{Index: 24, Symbol: "\U0001F34E", Description: "Apple"},       // 🍎 U+1F34E
	{Index: 25, Symbol: "\U0001F353", Description: "Strawberry"},  // 🍓 U+1F353
	{Index: 26, Symbol: "\U0001F33D", Description: "Corn"},        // 🌽 U+1F33D
	{Index: 27, Symbol: "\U0001F355", Description: "Pizza"},       // 🍕 U+1F355
	{Index: 28, Symbol: "\U0001F382", Description: "Cake"},        // 🎂 U+1F382
	{Index: 29, Symbol: "\u2764\uFE0F", Description: "Heart"},     // ❤️ U+2764U+FE0F
	{Index: 30, Symbol: "\U0001F600", Description: "Smiley"},      // 😀 U+1F600
	{Index: 31, Symbol: "\U0001F916", Description: "Robot"},       // 🤖 U+1F916
	{Index: 32, Symbol: "\U0001F3A9", Description: "Hat"},         // 🎩 U+1F3A9
	{Index: 33, Symbol: "\U0001F453", Description: "Glasses"},     // 👓 U+1F453
	{Index: 34, Symbol: "\U0001F527", Description: "Spanner"},     // 🔧 U+1F527
	{Index: 35, Symbol: "\U0001F385", Description: "Santa"},       // 🎅 U+1F385
	{Index: 36, Symbol: "\U0001F44D", Description: "Thumbs Up"},   // 👍 U+1F44D
	{Index: 37, Symbol: "\u2602\uFE0F", Description: "Umbrella"},  // ☂️ U+2602U+FE0F
	{Index: 38, Symbol: "\u231B", Description: "Hourglass"},       // ⌛ U+231B
	{Index: 39, Symbol: "\u23F0", Description: "Clock"},           // ⏰ U+23F0
	{Index: 40, Symbol: "\U0001F381", Description: "Gift"},        // 🎁 U+1F381
	{Index: 41, Symbol: "\U0001F4A1", Description: "Light Bulb"},  // 💡 U+1F4A1
	{Index: 42, Symbol: "\U0001F4D5", Description: "Book"},        // 📕 U+1F4D5
	{Index: 43, Symbol: "\u270F\uFE0F", Description: "Pencil"},    // ✏️ U+270FU+FE0F
	{Index: 44, Symbol: "\U0001F4CE", Description: "Paperclip"},   // 📎 U+1F4CE
	{Index: 45, Symbol: "\u2702\uFE0F", Description: "Scissors"},  // ✂️ U+2702U+FE0F
	{Index: 46, Symbol: "\U0001F512", Description: "Lock"},        // 🔒 U+1F512
	{Index: 47, Symbol: "\U0001F511", Description: "Key"},         // 🔑 U+1F511
	{Index: 48, Symbol: "\U0001F528", Description: "Hammer"},      // 🔨 U+1F528
	{Index: 49, Symbol: "\u260E\uFE0F", Description: "Telephone"}, // ☎️ U+260EU+FE0F
	{Index: 50, Symbol: "\U0001F3C1", Description: "Flag"},        // 🏁 U+1F3C1
	{Index: 51, Symbol: "\U0001F682", Description: "Train"},       // 🚂 U+1F682
	{Index: 52, Symbol: "\U0001F6B2", Description: "Bicycle"},     // 🚲 U+1F6B2
	{Index: 53, Symbol: "\u2708\uFE0F", Description: "Aeroplane"}, // ✈️ U+2708U+FE0F
	{Index: 54, Symbol: "\U0001F680", Description: "Rocket"},      // 🚀 U+1F680
	{Index: 55, Symbol: "\U0001F3C6", Description: "Trophy"},      // 🏆 U+1F3C6
	{Index: 56, Symbol: "\u26BD", Description: "Ball"},            // ⚽ U+26BD
	{Index: 57, Symbol: "\U0001F3B8", Description: "Guitar"},      // 🎸 U+1F3B8
	{Index: 58, Symbol: "\U0001F3BA", Description: "Trumpet"},     // 🎺 U+1F3BA
	{Index: 59, Symbol: "\U0001F514", Description: "Bell"},        // 🔔 U+1F514
	{Index: 60, Symbol: "\u2693", Description: "Anchor"},          // ⚓ U+2693
	{Index: 61, Symbol: "\U0001F3A7", Description: "Headphones"},  // 🎧 U+1F3A7
	{Index: 62, Symbol: "\U0001F4C1", Description: "Folder"},      // 📁 U+1F4C1
	{Index: 63, Symbol: "\U0001F4CC", Description: "Pin"},         // 📌 U+1F4CC
}
