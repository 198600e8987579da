// Compiles TestChain.sol into build/<Contract>.bin (creation bytecode, hex) with solc-js.
// Run from this directory after `npm install solc@0.8.28`: `node build.js`. The outputs are
// committed so tests need no compiler; CI does not run this.
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const source = fs.readFileSync(path.join(__dirname, "TestChain.sol"), "utf8");
const input = {
  language: "Solidity",
  sources: { "TestChain.sol": { content: source } },
  settings: {
    // Paris: no PUSH0 or MCOPY, so any local EVM runs it.
    evmVersion: "paris",
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { "*": { "*": ["evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join("\n"));
  process.exit(1);
}
fs.mkdirSync(path.join(__dirname, "build"), { recursive: true });
for (const [name, contract] of Object.entries(output.contracts["TestChain.sol"])) {
  fs.writeFileSync(path.join(__dirname, "build", `${name}.bin`), contract.evm.bytecode.object + "\n");
  console.log(`build/${name}.bin: ${contract.evm.bytecode.object.length / 2} bytes, solc ${solc.version()}`);
}
