// SPDX-License-Identifier: MIT
// Stand-ins for the Polygon contracts the bot calls, with the real contracts' ABI for those
// calls: pUSD (ERC-20), Conditional Tokens (approvals, balances, redemption) and the
// NegRiskAdapter (redemption). Test helpers (mint, deposit, resolve) are extra. Deployed on a
// local ganache chain by the test support; see README.md beside this file.
pragma solidity 0.8.28;

/// pUSD: an ERC-20 with 6 decimals, and a mint for tests.
contract TestCollateral {
    string public constant name = "Polymarket USD (test)";
    string public constant symbol = "pUSD";
    uint8 public constant decimals = 6;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    function mint(address to, uint256 value) external {
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        move(msg.sender, to, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= value, "ERC20: insufficient allowance");
        if (allowed != type(uint256).max) {
            allowance[from][msg.sender] = allowed - value;
        }
        move(from, to, value);
        return true;
    }

    function move(address from, address to, uint256 value) internal {
        require(balanceOf[from] >= value, "ERC20: transfer amount exceeds balance");
        balanceOf[from] -= value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}

/// Conditional Tokens: outcome positions backed by collateral, paid out once resolved.
contract TestConditionalTokens {
    mapping(bytes32 => uint256[]) internal payouts;
    mapping(bytes32 => uint256) public payoutDenominator;
    mapping(address => mapping(uint256 => uint256)) public balanceOf;
    mapping(address => mapping(address => bool)) public isApprovedForAll;
    /// Test helper: redemptions revert in blocks from this time on, so a transaction that was
    /// fine when estimated can revert when mined (see `haltFrom`).
    uint256 public haltedFrom = type(uint256).max;

    event ApprovalForAll(address indexed owner, address indexed operator, bool approved);
    event PayoutRedemption(
        address indexed redeemer,
        address indexed collateralToken,
        bytes32 indexed parentCollectionId,
        bytes32 conditionId,
        uint256[] indexSets,
        uint256 payout
    );

    function setApprovalForAll(address operator, bool approved) external {
        isApprovedForAll[msg.sender][operator] = approved;
        emit ApprovalForAll(msg.sender, operator, approved);
    }

    /// The position of one outcome (index set 1 or 2). The real contract derives it through
    /// collection ids; the bot never computes it.
    function positionId(address collateral, bytes32 conditionId, uint256 indexSet) public pure returns (uint256) {
        return uint256(keccak256(abi.encodePacked(collateral, conditionId, indexSet)));
    }

    /// Test helper: `to` gets `amount` shares of an outcome, backed by as much collateral
    /// taken from the caller.
    function deposit(address collateral, bytes32 conditionId, address to, uint256 indexSet, uint256 amount)
        external
    {
        require(TestCollateral(collateral).transferFrom(msg.sender, address(this), amount), "collateral");
        balanceOf[to][positionId(collateral, conditionId, indexSet)] += amount;
    }

    /// Test helper: redemptions mined at or after `timestamp` revert.
    function haltFrom(uint256 timestamp) external {
        haltedFrom = timestamp;
    }

    /// Test helper: the oracle's answer, a numerator per outcome.
    function resolve(bytes32 conditionId, uint256[] calldata numerators) external {
        require(payoutDenominator[conditionId] == 0, "payout denominator already set");
        uint256 den;
        for (uint256 i = 0; i < numerators.length; i++) {
            den += numerators[i];
        }
        require(den > 0, "payout is all zeroes");
        payouts[conditionId] = numerators;
        payoutDenominator[conditionId] = den;
    }

    function redeemPositions(
        address collateralToken,
        bytes32 parentCollectionId,
        bytes32 conditionId,
        uint256[] calldata indexSets
    ) external {
        uint256 paid = pay(msg.sender, collateralToken, conditionId, indexSets, new uint256[](0));
        emit PayoutRedemption(msg.sender, collateralToken, parentCollectionId, conditionId, indexSets, paid);
    }

    /// For the adapter: redeems `amounts` of each outcome for `holder`, who approved it.
    function redeemFor(address holder, address collateral, bytes32 conditionId, uint256[] calldata amounts)
        external
        returns (uint256)
    {
        require(isApprovedForAll[holder][msg.sender], "caller is not approved");
        uint256[] memory sets = new uint256[](amounts.length);
        for (uint256 i = 0; i < amounts.length; i++) {
            sets[i] = 1 << i;
        }
        return pay(holder, collateral, conditionId, sets, amounts);
    }

    function pay(
        address holder,
        address collateral,
        bytes32 conditionId,
        uint256[] memory indexSets,
        uint256[] memory amounts
    ) internal returns (uint256 total) {
        require(block.timestamp < haltedFrom, "redemptions halted");
        uint256 den = payoutDenominator[conditionId];
        require(den > 0, "result for condition not received yet");
        for (uint256 i = 0; i < indexSets.length; i++) {
            uint256 set = indexSets[i];
            require(set == 1 || set == 2, "got invalid index set");
            uint256 id = positionId(collateral, conditionId, set);
            uint256 held = balanceOf[holder][id];
            uint256 amount = amounts.length == 0 ? held : amounts[i];
            require(amount <= held, "insufficient position balance");
            balanceOf[holder][id] = held - amount;
            total += amount * payouts[conditionId][set == 1 ? 0 : 1] / den;
        }
        if (total > 0) {
            require(TestCollateral(collateral).transfer(holder, total), "payout");
        }
    }
}

/// NegRiskAdapter: redeems neg-risk positions by amounts.
contract TestNegRiskAdapter {
    TestConditionalTokens public immutable ctf;
    address public immutable col;

    event PositionsRedeemed(address indexed redeemer, bytes32 indexed conditionId, uint256[] amounts, uint256 payout);

    constructor(TestConditionalTokens _ctf, address _col) {
        ctf = _ctf;
        col = _col;
    }

    function redeemPositions(bytes32 _conditionId, uint256[] calldata _amounts) external {
        require(_amounts.length == 2, "invalid amounts");
        uint256 paid = ctf.redeemFor(msg.sender, col, _conditionId, _amounts);
        emit PositionsRedeemed(msg.sender, _conditionId, _amounts, paid);
    }
}
