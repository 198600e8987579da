//! Money, exactly: what a fill does to a position, realised and unrealised P&L marked at the best
//! bid with the fee of selling there, and the capital overview (total, available, allocated).

use crate::exchange::TakerFee;
use crate::store::{Action, Leg, LegState, Position, TradeRecord, Writer};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The bot's running account, kept in the store beside the trades that move it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The venue's collateral when the bot first started on it.
    pub initial_capital: Decimal,
    /// pUSD not in positions: the initial capital plus every sale and payout, minus every
    /// purchase and fee.
    pub cash: Decimal,
    /// Every fee paid.
    pub fees: Decimal,
    /// Which venue this account is on (`sim`, `paper`, `live`).
    pub venue: String,
    pub started_at_ms: i64,
    /// One more at every write (see [`Account::put`]), so that of two copies the engine holds
    /// the newer: fills recorded concurrently (an entry's two sides) are committed in one order
    /// and may be published in the other. Accounts stored before it was kept read as 0.
    #[serde(default)]
    pub version: u64,
}

impl Account {
    /// The store key of the account record.
    pub const KEY: &'static str = "account";

    /// A fresh account holding `capital`.
    #[must_use]
    pub fn new(capital: Decimal, venue: &str, now_ms: i64) -> Self {
        Self {
            initial_capital: capital,
            cash: capital,
            fees: Decimal::ZERO,
            venue: venue.into(),
            started_at_ms: now_ms,
            version: 0,
        }
    }

    /// Stores the account in `w`'s transaction, one version on from the copy that transaction
    /// read (every write of the account goes through here).
    ///
    /// # Errors
    /// As [`Writer::put_config`].
    pub(super) fn put(&mut self, w: &mut Writer<'_>) -> crate::store::Result<()> {
        self.version += 1;
        w.put_config(Self::KEY, self)
    }

    /// Undoes [`Account::apply`] for a trade the venue reports failed at settlement.
    pub fn reverse(&mut self, trade: &TradeRecord) {
        match trade.action {
            Action::Buy => self.cash += trade.notional,
            Action::Sell | Action::Settle => self.cash -= trade.notional,
        }
        self.cash += trade.fee;
        self.fees -= trade.fee;
    }

    /// Moves cash for a trade: a buy pays its notional, a sale or payout brings it; fees are paid.
    pub fn apply(&mut self, trade: &TradeRecord) {
        match trade.action {
            Action::Buy => self.cash -= trade.notional,
            Action::Sell | Action::Settle => self.cash += trade.notional,
        }
        self.cash -= trade.fee;
        self.fees += trade.fee;
    }
}

/// What a fill did to one side of a position.
pub fn apply_fill(position: &mut Position, trade: &TradeRecord) {
    let leg = position.leg_mut(trade.leg);
    match trade.action {
        Action::Buy => {
            leg.bought += trade.shares;
            leg.cost += trade.notional;
        }
        Action::Sell | Action::Settle => {
            leg.sold += trade.shares;
            leg.proceeds += trade.notional;
        }
    }
    leg.fees += trade.fee;
    if !leg.bought.is_zero() && !leg.is_held() && trade.action != Action::Buy {
        leg.exited_at_ms = Some(trade.at_ms);
        leg.exit = Some(trade.purpose);
    }
    position.updated_at_ms = position.updated_at_ms.max(trade.at_ms);
}

/// Undoes [`apply_fill`] for a trade the venue reports failed at settlement: the shares and the
/// money never moved.
pub fn reverse_fill(position: &mut Position, trade: &TradeRecord) {
    let leg = position.leg_mut(trade.leg);
    match trade.action {
        Action::Buy => {
            leg.bought -= trade.shares;
            leg.cost -= trade.notional;
        }
        Action::Sell | Action::Settle => {
            leg.sold -= trade.shares;
            leg.proceeds -= trade.notional;
        }
    }
    leg.fees -= trade.fee;
    if leg.is_held() {
        leg.exited_at_ms = None;
        leg.exit = None;
    }
}

/// Micro-units are the finest grain money is reported in.
const MONEY_DP: u32 = 6;

/// The cost of the shares still held: all of it while nothing was sold, none once all is gone.
#[must_use]
pub fn cost_held(leg: &LegState) -> Decimal {
    if leg.sold.is_zero() {
        leg.cost
    } else if leg.held() <= Decimal::ZERO || leg.bought.is_zero() {
        Decimal::ZERO
    } else {
        (leg.cost * leg.held() / leg.bought).round_dp(MONEY_DP)
    }
}

/// Realised P&L of a side: what sales and payouts brought, less the cost of the shares gone and
/// every fee paid so far.
#[must_use]
pub fn realised(leg: &LegState) -> Decimal {
    leg.proceeds - (leg.cost - cost_held(leg)) - leg.fees
}

/// What the shares held would bring if sold at `bid` now, after the taker fee; zero without a bid.
#[must_use]
pub fn exit_value(leg: &LegState, bid: Option<Decimal>, fee: TakerFee) -> Decimal {
    match bid {
        Some(bid) if leg.held() > Decimal::ZERO => leg.held() * bid - fee.on(leg.held(), bid),
        _ => Decimal::ZERO,
    }
}

/// Unrealised P&L of a side marked at its best bid, net of the fee to sell there.
#[must_use]
pub fn unrealised(leg: &LegState, bid: Option<Decimal>, fee: TakerFee) -> Decimal {
    if leg.held() <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    exit_value(leg, bid, fee) - cost_held(leg)
}

/// A position's fee schedule.
#[must_use]
pub fn fee_of(position: &Position) -> TakerFee {
    TakerFee { rate: position.fee_rate, exponent: position.fee_exponent }
}

/// One side's realised and unrealised P&L, marked at `bid` with the fee of selling there.
#[must_use]
pub fn mark_leg(position: &Position, leg: Leg, bid: Option<Decimal>) -> (Decimal, Decimal) {
    let state = position.leg(leg);
    (realised(state), unrealised(state, bid, fee_of(position)))
}

/// A position's figures at the given best bids (YES, NO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PositionPnl {
    /// Cost of the shares still held.
    pub allocated: Decimal,
    /// What they would bring at the best bids, after fees.
    pub value: Decimal,
    pub realised: Decimal,
    pub unrealised: Decimal,
    pub total: Decimal,
}

/// Marks a position at its best bids.
#[must_use]
pub fn mark(position: &Position, bids: [Option<Decimal>; 2]) -> PositionPnl {
    let fee = fee_of(position);
    let mut out = PositionPnl::default();
    for leg in Leg::BOTH {
        let state = position.leg(leg);
        let bid = bids[leg.index()];
        out.allocated += cost_held(state);
        out.value += exit_value(state, bid, fee);
        out.realised += realised(state);
        out.unrealised += unrealised(state, bid, fee);
    }
    out.total = out.realised + out.unrealised;
    out
}

/// The whole book: capital and P&L.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Overview {
    pub initial_capital: Decimal,
    /// Cash free to trade.
    pub available: Decimal,
    /// Cost of the shares held in open positions.
    pub allocated: Decimal,
    /// Cash plus what open positions would bring at the best bids after fees.
    pub total: Decimal,
    pub realised_pnl: Decimal,
    pub unrealised_pnl: Decimal,
    pub total_pnl: Decimal,
    pub fees: Decimal,
    pub open_positions: usize,
}

/// Adds up the account and the open positions, marked at the given best bids.
///
/// Closed positions need not be read: every trade moves the account's cash, so everything
/// realised so far, on open and closed positions alike, is the cash plus the cost of the shares
/// still held, less the initial capital.
#[must_use]
pub fn overview<'a>(
    account: &Account,
    open: impl IntoIterator<Item = (&'a Position, [Option<Decimal>; 2])>,
) -> Overview {
    let mut o = Overview {
        initial_capital: account.initial_capital,
        available: account.cash,
        fees: account.fees,
        ..Overview::default()
    };
    let mut value = Decimal::ZERO;
    for (p, bids) in open {
        let pnl = mark(p, bids);
        o.allocated += pnl.allocated;
        value += pnl.value;
        o.unrealised_pnl += pnl.unrealised;
        o.open_positions += usize::from(p.status.is_open());
    }
    o.realised_pnl = o.available + o.allocated - o.initial_capital;
    o.total = o.available + value;
    o.total_pnl = o.realised_pnl + o.unrealised_pnl;
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Purpose, Settlement};
    use rust_decimal_macros::dec;

    fn position(fee_rate: Decimal) -> Position {
        Position {
            id: 1,
            market_id: "m".into(),
            question: "Will it?".into(),
            capital: dec!(1000),
            legs: [
                LegState { token: "y".into(), outcome: "Yes".into(), ..LegState::default() },
                LegState { token: "n".into(), outcome: "No".into(), ..LegState::default() },
            ],
            status: crate::store::PositionStatus::Active,
            score: Some(7.0),
            fee_rate,
            ..Position::blank()
        }
    }

    fn trade(leg: Leg, action: Action, shares: Decimal, notional: Decimal, fee: Decimal) -> TradeRecord {
        TradeRecord {
            id: 0,
            position_id: 1,
            leg,
            action,
            purpose: if action == Action::Buy { Purpose::Entry } else { Purpose::Liquidation },
            client_id: String::new(),
            order_id: String::new(),
            exchange_trade_ids: vec![],
            price: notional / shares,
            shares,
            notional,
            fee,
            status: Settlement::Confirmed,
            tx_hash: None,
            at_ms: 5,
            reason: String::new(),
            decided_by: None,
        }
    }

    /// 10,000 pUSD, 10 % allocated: 500 pUSD buys 1,250 YES at 0.40 and 500 buys 806.45 NO at
    /// 0.62 (the 0.001 left over stays in cash). YES falls to a 0.27 bid — more than 30 % under
    /// 0.40 — and is sold; NO is later sold at 0.80.
    #[test]
    fn worked_example_entry_liquidation_close_without_fees() {
        let mut account = Account::new(dec!(10000), "sim", 0);
        let mut p = position(Decimal::ZERO);
        let fills = [
            trade(Leg::Yes, Action::Buy, dec!(1250), dec!(500.00), Decimal::ZERO),
            trade(Leg::No, Action::Buy, dec!(806.45), dec!(499.999), Decimal::ZERO),
        ];
        for t in &fills {
            apply_fill(&mut p, t);
            account.apply(t);
        }
        assert_eq!(account.cash, dec!(9000.001));
        assert_eq!(p.leg(Leg::Yes).entry_price(), dec!(0.40));
        assert_eq!(p.leg(Leg::No).entry_price(), dec!(0.62));

        // Marked at bids 0.27 / 0.70: YES −162.50, NO +64.516.
        let pnl = mark(&p, [Some(dec!(0.27)), Some(dec!(0.70))]);
        assert_eq!(pnl.allocated, dec!(999.999));
        assert_eq!(pnl.unrealised, dec!(-162.50) + dec!(64.516));
        assert_eq!(pnl.realised, Decimal::ZERO);

        let sell = trade(Leg::Yes, Action::Sell, dec!(1250), dec!(337.50), Decimal::ZERO);
        apply_fill(&mut p, &sell);
        account.apply(&sell);
        assert_eq!(p.leg(Leg::Yes).exit, Some(Purpose::Liquidation));
        let pnl = mark(&p, [None, Some(dec!(0.70))]);
        assert_eq!(pnl.realised, dec!(-162.50));
        assert_eq!(pnl.unrealised, dec!(64.516));
        assert_eq!(pnl.allocated, dec!(499.999));
        // The overview, from the account and the open position alone, tells the same.
        let o = overview(&account, [(&p, [None, Some(dec!(0.70))])]);
        assert_eq!((o.realised_pnl, o.unrealised_pnl), (pnl.realised, pnl.unrealised));
        assert_eq!(o.total, o.initial_capital + o.total_pnl);

        let close = trade(Leg::No, Action::Sell, dec!(806.45), dec!(645.16), Decimal::ZERO);
        apply_fill(&mut p, &close);
        account.apply(&close);
        let pnl = mark(&p, [None, None]);
        assert_eq!(pnl.realised, dec!(-162.50) + dec!(145.161));
        assert_eq!((pnl.unrealised, pnl.allocated), (Decimal::ZERO, Decimal::ZERO));
        // Cash tells the same story: 10,000 − 17.339.
        assert_eq!(account.cash, dec!(10000) + pnl.realised);
        // Closed, it no longer needs to be read: the account carries what it realised.
        let o = overview(&account, []);
        assert_eq!(o.total, account.cash);
        assert_eq!(o.realised_pnl, pnl.realised);
        assert_eq!(o.total_pnl, o.total - o.initial_capital);
    }

    /// A 2 % taker fee: `shares × 0.02 × p(1 − p)`. Buying 100 at 0.50 costs 50 + 0.5 fee; the
    /// mark at a 0.60 bid nets the 0.48 fee of selling there.
    #[test]
    fn fees_are_paid_and_marked() {
        let fee = dec!(0.02);
        let mut p = position(fee);
        let mut account = Account::new(dec!(100), "sim", 0);
        let buy = trade(Leg::Yes, Action::Buy, dec!(100), dec!(50), dec!(0.5));
        apply_fill(&mut p, &buy);
        account.apply(&buy);
        assert_eq!(account.cash, dec!(49.5));
        let pnl = mark(&p, [Some(dec!(0.60)), None]);
        // 100 × 0.60 − 0.48 fee − 50 cost; the buy fee is already realised.
        assert_eq!(pnl.unrealised, dec!(9.52));
        assert_eq!(pnl.realised, dec!(-0.5));
        let o = overview(&account, [(&p, [Some(dec!(0.60)), None])]);
        assert_eq!(o.total, dec!(49.5) + dec!(59.52));
        assert_eq!(o.total_pnl, o.total - o.initial_capital);
        assert_eq!(o.fees, dec!(0.5));
    }

    /// Half of a side sold: the cost of what is left is half the cost.
    #[test]
    fn a_partial_sale_realises_its_share_of_the_cost() {
        let mut p = position(Decimal::ZERO);
        apply_fill(&mut p, &trade(Leg::No, Action::Buy, dec!(300), dec!(90), Decimal::ZERO));
        apply_fill(&mut p, &trade(Leg::No, Action::Sell, dec!(100), dec!(40), Decimal::ZERO));
        let leg = p.leg(Leg::No);
        assert_eq!((leg.held(), cost_held(leg)), (dec!(200), dec!(60)));
        assert_eq!(realised(leg), dec!(10));
        assert_eq!(leg.exit, None, "still held");
    }

    /// A fill the venue undoes at settlement leaves position and account as they were.
    #[test]
    fn a_failed_trade_is_undone_exactly() {
        let mut p = position(dec!(0.02));
        let mut account = Account::new(dec!(100), "live", 0);
        let buy = trade(Leg::Yes, Action::Buy, dec!(100), dec!(50), dec!(0.5));
        apply_fill(&mut p, &buy);
        account.apply(&buy);
        let (p0, a0) = (p.clone(), account.clone());
        let sell = trade(Leg::Yes, Action::Sell, dec!(100), dec!(60), dec!(0.48));
        apply_fill(&mut p, &sell);
        account.apply(&sell);
        assert_eq!(p.leg(Leg::Yes).exit, Some(Purpose::Liquidation));
        reverse_fill(&mut p, &sell);
        account.reverse(&sell);
        assert_eq!((p, account), (p0, a0));
    }

    /// Resolution: the winning side pays 1 a share, the other 0.
    #[test]
    fn settlement_pays_one_or_zero() {
        let mut p = position(Decimal::ZERO);
        apply_fill(&mut p, &trade(Leg::Yes, Action::Buy, dec!(100), dec!(45), Decimal::ZERO));
        apply_fill(&mut p, &trade(Leg::No, Action::Buy, dec!(100), dec!(57), Decimal::ZERO));
        let mut win = trade(Leg::Yes, Action::Settle, dec!(100), dec!(100), Decimal::ZERO);
        win.purpose = Purpose::Settlement;
        let mut lose = trade(Leg::No, Action::Settle, dec!(100), Decimal::ZERO, Decimal::ZERO);
        lose.price = Decimal::ZERO;
        lose.purpose = Purpose::Settlement;
        apply_fill(&mut p, &win);
        apply_fill(&mut p, &lose);
        let pnl = mark(&p, [None, None]);
        assert_eq!(pnl.realised, dec!(-2));
        assert_eq!(p.leg(Leg::No).exit, Some(Purpose::Settlement));
    }
}
