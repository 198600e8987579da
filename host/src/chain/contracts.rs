//! The Polygon contracts the bot calls, by the part of their ABI it uses, and their addresses.

use alloy::primitives::{Address, address};

alloy::sol! {
    /// pUSD, the collateral (an ERC-20 with 6 decimals).
    #[sol(rpc)]
    interface IErc20 {
        function balanceOf(address owner) external view returns (uint256);
        function allowance(address owner, address spender) external view returns (uint256);
        function approve(address spender, uint256 value) external returns (bool);
    }

    /// Conditional Tokens: outcome shares, their approvals, and redemption once resolved.
    #[sol(rpc)]
    interface IConditionalTokens {
        function isApprovedForAll(address owner, address operator) external view returns (bool);
        function setApprovalForAll(address operator, bool approved) external;
        function payoutDenominator(bytes32 conditionId) external view returns (uint256);
        function redeemPositions(address collateralToken, bytes32 parentCollectionId, bytes32 conditionId, uint256[] indexSets) external;
    }

    /// The NegRiskAdapter: redemption of neg-risk markets, by amounts of each outcome.
    #[sol(rpc)]
    interface INegRiskAdapter {
        function redeemPositions(bytes32 conditionId, uint256[] amounts) external;
    }
}

/// Where the contracts are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    pub collateral: Address,
    pub conditional_tokens: Address,
    pub exchange: Address,
    pub neg_risk_exchange: Address,
    pub neg_risk_adapter: Address,
}

impl Addresses {
    /// Polygon mainnet (chain 137).
    pub const POLYGON: Self = Self {
        collateral: address!("0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB"),
        conditional_tokens: address!("0x4D97DCd97eC945f40cF65F87097ACe5EA0476045"),
        exchange: address!("0xE111180000d2663C0091e4f400237545B87B996B"),
        neg_risk_exchange: address!("0xe2222d279d744050d28e00520010520000310F59"),
        neg_risk_adapter: address!("0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296"),
    };

    /// The contracts that spend the wallet's pUSD and move its outcome shares when it trades.
    #[must_use]
    pub fn spenders(&self) -> [(&'static str, Address); 3] {
        [
            ("CTF Exchange V2", self.exchange),
            ("NegRisk CTF Exchange V2", self.neg_risk_exchange),
            ("NegRiskAdapter", self.neg_risk_adapter),
        ]
    }
}
