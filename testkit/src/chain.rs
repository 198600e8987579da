//! A real local EVM for chain tests: ganache (from npm) on 127.0.0.1 with the test contracts
//! (`contracts/TestChain.sol`, compiled into `contracts/build/`) deployed: pUSD, Conditional
//! Tokens and a NegRiskAdapter with the ABI the bot calls, plus helpers to fund, resolve and
//! inspect them.
//!
//! Ganache is found at `$EQUILIBRAGE_GANACHE`, on `PATH`, or where `.ci/run` installs it
//! (`$HOME/.cache/equilibrage-node/node_modules/.bin/ganache`).

use alloy::network::{EthereumWallet, TransactionBuilder as _};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

alloy::sol! {
    interface ITestCollateral {
        function mint(address to, uint256 value) external;
        function approve(address spender, uint256 value) external returns (bool);
        function balanceOf(address owner) external view returns (uint256);
    }
    interface ITestConditionalTokens {
        function deposit(address collateral, bytes32 conditionId, address to, uint256 indexSet, uint256 amount) external;
        function resolve(bytes32 conditionId, uint256[] numerators) external;
        function positionId(address collateral, bytes32 conditionId, uint256 indexSet) external pure returns (uint256);
        function balanceOf(address owner, uint256 id) external view returns (uint256);
        function setApprovalForAll(address operator, bool approved) external;
        function haltFrom(uint256 timestamp) external;
    }
}

/// The bot's test key (Anvil's first account), funded with POL on the local chain.
pub const BOT_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// The deployer and counterparty of the tests (Anvil's second account).
const DEPLOYER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
/// The chain id of the local chain.
pub const CHAIN_ID: u64 = 1337;

/// Where the deployed contracts are (the exchanges are plain addresses: the bot only approves them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployed {
    pub collateral: Address,
    pub conditional_tokens: Address,
    pub neg_risk_adapter: Address,
    pub exchange: Address,
    pub neg_risk_exchange: Address,
}

/// A running local chain; dropped, it stops.
#[derive(Debug)]
pub struct LocalChain {
    port: u16,
    /// The chain's database, kept across `stop`/`restart`.
    db: tempfile::TempDir,
    child: Option<Child>,
    deployer: DynProvider,
    pub contracts: Deployed,
}

fn ganache() -> PathBuf {
    if let Some(p) = std::env::var_os("EQUILIBRAGE_GANACHE") {
        return PathBuf::from(p);
    }
    let cached = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/equilibrage-node/node_modules/.bin/ganache"));
    match cached {
        Some(p) if p.exists() => p,
        _ => PathBuf::from("ganache"),
    }
}

fn bytecode(name: &str) -> Bytes {
    let path = format!("{}/contracts/build/{name}.bin", env!("CARGO_MANIFEST_DIR"));
    let hex = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    alloy::hex::decode(hex.trim()).unwrap_or_else(|e| panic!("{path}: {e}")).into()
}

impl LocalChain {
    /// Starts ganache on a free port and deploys the contracts.
    ///
    /// # Panics
    /// When ganache cannot be started (install it: `.ci/run` does) or a deployment fails.
    pub async fn start() -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("its address").port()
        };
        let db =
            tempfile::Builder::new().prefix("equilibrage-ganache-").tempdir().expect("a temporary directory");
        let mut chain = Self {
            port,
            db,
            child: None,
            deployer: ProviderBuilder::new()
                .connect_http(format!("http://127.0.0.1:{port}").parse().expect("url"))
                .erased(),
            contracts: Deployed {
                collateral: Address::ZERO,
                conditional_tokens: Address::ZERO,
                neg_risk_adapter: Address::ZERO,
                exchange: Address::repeat_byte(0xe1),
                neg_risk_exchange: Address::repeat_byte(0xe2),
            },
        };
        chain.launch().await;
        let deployer: PrivateKeySigner = DEPLOYER_KEY.parse().expect("deployer key");
        chain.deployer = ProviderBuilder::new()
            .wallet(EthereumWallet::from(deployer))
            .connect_http(chain.rpc_url().parse().expect("url"))
            .erased();
        let collateral = chain.deploy("TestCollateral", &[]).await;
        let ctf = chain.deploy("TestConditionalTokens", &[]).await;
        let mut args = Vec::new();
        args.extend_from_slice(ctf.into_word().as_slice());
        args.extend_from_slice(collateral.into_word().as_slice());
        let adapter = chain.deploy("TestNegRiskAdapter", &args).await;
        chain.contracts.collateral = collateral;
        chain.contracts.conditional_tokens = ctf;
        chain.contracts.neg_risk_adapter = adapter;
        chain
    }

    /// (Re)starts the ganache process on this chain's port and database, and waits for it.
    async fn launch(&mut self) {
        let fund = "0x3635C9ADC5DEA00000"; // 1000 POL
        let child = Command::new(ganache())
            .args(["--server.host", "127.0.0.1", "--server.port", &self.port.to_string()])
            .args(["--chain.chainId", &CHAIN_ID.to_string(), "--logging.quiet"])
            .args(["--wallet.accounts", &format!("{BOT_KEY},{fund}")])
            .args(["--wallet.accounts", &format!("{DEPLOYER_KEY},{fund}")])
            .arg("--database.dbPath")
            .arg(self.db.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting {}: {e} (npm install ganache; .ci/run does)", ganache().display())
            });
        self.child = Some(child);
        let probe = ProviderBuilder::new().connect_http(self.rpc_url().parse().expect("url"));
        let started = std::time::Instant::now();
        while probe.get_chain_id().await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "ganache did not answer within 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the node (connections are refused) without losing the chain.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the node again after [`LocalChain::stop`], with the same chain.
    pub async fn restart(&mut self) {
        self.stop();
        self.launch().await;
    }

    async fn deploy(&self, name: &str, args: &[u8]) -> Address {
        let mut code = bytecode(name).to_vec();
        code.extend_from_slice(args);
        let receipt = self
            .deployer
            .send_transaction(TransactionRequest::default().with_deploy_code(code))
            .await
            .unwrap_or_else(|e| panic!("deploying {name}: {e}"))
            .get_receipt()
            .await
            .unwrap_or_else(|e| panic!("deploying {name}: {e}"));
        receipt.contract_address.unwrap_or_else(|| panic!("{name}: no contract address"))
    }

    async fn send(&self, to: Address, data: Vec<u8>) {
        let receipt = self
            .deployer
            .send_transaction(TransactionRequest::default().with_to(to).with_input(data))
            .await
            .expect("test transaction")
            .get_receipt()
            .await
            .expect("its receipt");
        assert!(receipt.status(), "a test transaction reverted");
    }

    async fn view<C: alloy::sol_types::SolCall>(&self, to: Address, call: C) -> C::Return {
        let out = self
            .deployer
            .call(TransactionRequest::default().with_to(to).with_input(call.abi_encode()))
            .await
            .expect("a view call");
        C::abi_decode_returns(&out).expect("its answer")
    }

    /// Mints `units` (10^-6 pUSD) to `to`.
    pub async fn mint(&self, to: Address, units: u64) {
        let call = ITestCollateral::mintCall { to, value: U256::from(units) };
        self.send(self.contracts.collateral, call.abi_encode()).await;
    }

    /// Gives `holder` `units` shares of outcome `index_set` (1 YES, 2 NO) of `condition`,
    /// backed by pUSD the deployer mints for it.
    pub async fn deposit(&self, condition: B256, holder: Address, index_set: u64, units: u64) {
        let c = self.contracts;
        let deployer: PrivateKeySigner = DEPLOYER_KEY.parse().expect("deployer key");
        let deployer = deployer.address();
        self.send(
            c.collateral,
            ITestCollateral::mintCall { to: deployer, value: U256::from(units) }.abi_encode(),
        )
        .await;
        let approve =
            ITestCollateral::approveCall { spender: c.conditional_tokens, value: U256::from(units) };
        self.send(c.collateral, approve.abi_encode()).await;
        let deposit = ITestConditionalTokens::depositCall {
            collateral: c.collateral,
            conditionId: condition,
            to: holder,
            indexSet: U256::from(index_set),
            amount: U256::from(units),
        };
        self.send(c.conditional_tokens, deposit.abi_encode()).await;
    }

    /// The oracle's answer: `numerators` per outcome (`[1, 0]`: YES won).
    pub async fn resolve(&self, condition: B256, numerators: [u64; 2]) {
        let call = ITestConditionalTokens::resolveCall {
            conditionId: condition,
            numerators: numerators.iter().map(|n| U256::from(*n)).collect(),
        };
        self.send(self.contracts.conditional_tokens, call.abi_encode()).await;
    }

    /// pUSD held by `owner`, in 10^-6 units.
    pub async fn pusd(&self, owner: Address) -> U256 {
        self.view(self.contracts.collateral, ITestCollateral::balanceOfCall { owner }).await
    }

    /// Shares of outcome `index_set` of `condition` held by `owner`, in 10^-6 units.
    pub async fn shares(&self, condition: B256, owner: Address, index_set: u64) -> U256 {
        let c = self.contracts;
        let id = self
            .view(
                c.conditional_tokens,
                ITestConditionalTokens::positionIdCall {
                    collateral: c.collateral,
                    conditionId: condition,
                    indexSet: U256::from(index_set),
                },
            )
            .await;
        self.view(c.conditional_tokens, ITestConditionalTokens::balanceOfCall { owner, id }).await
    }

    /// Transactions from `owner` waiting in the pool (sent, not mined), from `txpool_content`.
    pub async fn waiting(&self, owner: Address) -> usize {
        let pool: serde_json::Value =
            self.deployer.raw_request("txpool_content".into(), ()).await.expect("txpool_content");
        ["pending", "queued"]
            .iter()
            .filter_map(|k| pool.get(k).and_then(serde_json::Value::as_object))
            .flat_map(|by_sender| by_sender.iter())
            .filter(|(sender, _)| sender.eq_ignore_ascii_case(&owner.to_string()))
            .map(|(_, txs)| txs.as_object().map_or(0, serde_json::Map::len))
            .sum()
    }

    /// Redemptions mined in blocks stamped `timestamp` or later revert (`u64::MAX` lifts it).
    pub async fn halt_redemptions_from(&self, timestamp: u64) {
        let call = ITestConditionalTokens::haltFromCall { timestamp: U256::from(timestamp) };
        self.send(self.contracts.conditional_tokens, call.abi_encode()).await;
    }

    /// The latest block's timestamp, in seconds.
    pub async fn now(&self) -> u64 {
        let block = self
            .deployer
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .expect("the latest block")
            .expect("a latest block");
        block.header.timestamp
    }

    /// Moves the chain's clock `secs` ahead for the blocks mined from now on.
    pub async fn advance_time(&self, secs: u64) {
        let _: serde_json::Value =
            self.deployer.raw_request("evm_increaseTime".into(), (secs,)).await.expect("evm_increaseTime");
    }

    /// Stops mining: sent transactions wait in the pool (a receipt that never comes).
    pub async fn pause_mining(&self) {
        let _: bool = self.deployer.raw_request("miner_stop".into(), ()).await.expect("miner_stop");
    }

    /// Mines again, starting with what waited.
    pub async fn resume_mining(&self) {
        let _: bool = self.deployer.raw_request("miner_start".into(), ()).await.expect("miner_start");
    }
}

impl Drop for LocalChain {
    fn drop(&mut self) {
        self.stop();
    }
}
