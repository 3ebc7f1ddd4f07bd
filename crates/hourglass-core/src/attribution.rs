//! Revenue attribution: which marketing touches a sale is credited to.
//!
//! A sale (a REVENUE event) is credited to the touches of its contact, or of its
//! organization, within a lookback window before it. The model says how the sale's
//! amount is shared among those touches; a KPI filter then keeps the credit of the
//! touches it selects (a campaign, a channel).

use crate::money::{Amounts, Credit};

/// How a sale's amount is shared among the touches before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttributionModel {
    /// All of it to the earliest touch in the window.
    FirstTouch,
    /// All of it to the latest touch before the sale.
    LastTouch,
    /// Equal shares to every touch in the window.
    Linear,
}

/// The model and its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Attribution {
    pub model: AttributionModel,
    /// How far before a sale a touch still counts.
    pub lookback_days: u32,
}

impl Attribution {
    pub const DEFAULT_LOOKBACK_DAYS: u32 = 90;
    /// A lookback longer than this is refused: it would credit touches from years ago.
    pub const MAX_LOOKBACK_DAYS: u32 = 3650;

    pub fn lookback_ms(&self) -> i64 {
        i64::from(self.lookback_days) * 86_400_000
    }
}

/// A REVENUE event.
#[derive(Debug, Clone, PartialEq)]
pub struct Sale {
    /// Milliseconds since the epoch.
    pub at: i64,
    pub amount: f64,
    /// The event's currency, else the workspace's.
    pub currency: Option<String>,
}

/// A marketing touch of the sale's contact or organization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Touch {
    /// Milliseconds since the epoch.
    pub at: i64,
    /// The event id: orders touches at the same instant.
    pub id: i64,
    /// Whether the filter selects this touch (its campaign, channel, asset).
    pub selected: bool,
}

/// Revenue of a filter under one attribution.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttributedRevenue {
    /// Credit of the selected touches, sale by sale, per currency.
    pub credited: Credit,
    /// Sales with no touch at all in their window, per currency.
    pub unattributed: Amounts,
    /// Sales considered.
    pub sales: u64,
}

impl AttributedRevenue {
    /// Adds `sale`, credited to whichever of `touches` (any order, any time) fall in
    /// `[sale - lookback, sale)`.
    pub fn add(&mut self, attribution: Attribution, sale: &Sale, touches: &[Touch]) {
        self.sales += 1;
        let from = sale.at.saturating_sub(attribution.lookback_ms());
        let mut window: Vec<&Touch> = touches
            .iter()
            .filter(|t| t.at >= from && t.at < sale.at)
            .collect();
        let currency = sale.currency.as_deref();
        if window.is_empty() {
            self.unattributed.add(currency, sale.amount);
            return;
        }
        window.sort_by_key(|t| (t.at, t.id));
        let share = match attribution.model {
            AttributionModel::FirstTouch => f64::from(u8::from(window[0].selected)),
            AttributionModel::LastTouch => f64::from(u8::from(window[window.len() - 1].selected)),
            AttributionModel::Linear => {
                window.iter().filter(|t| t.selected).count() as f64 / window.len() as f64
            }
        };
        if share > 0.0 {
            self.credited.add(currency, sale.amount * share);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn touch(day: i64, id: i64, selected: bool) -> Touch {
        Touch {
            at: day * DAY,
            id,
            selected,
        }
    }

    fn credited(model: AttributionModel, touches: &[Touch]) -> (f64, f64) {
        let mut revenue = AttributedRevenue::default();
        let sale = Sale {
            at: 100 * DAY,
            amount: 1200.0,
            currency: Some("EUR".into()),
        };
        let attribution = Attribution {
            model,
            lookback_days: 90,
        };
        revenue.add(attribution, &sale, touches);
        (
            revenue.credited.total.in_currency(Some("EUR")),
            revenue.unattributed.in_currency(Some("EUR")),
        )
    }

    #[test]
    fn each_model_shares_the_sale_among_the_touches_in_its_window() {
        // Touches on days 5 (outside the 90-day window), 20 (selected), 50, 80
        // (selected), 100 (the sale's instant: not before it), given out of order.
        let touches = [
            touch(80, 4, true),
            touch(5, 1, true),
            touch(50, 3, false),
            touch(20, 2, true),
            touch(100, 5, true),
        ];
        assert_eq!(
            credited(AttributionModel::FirstTouch, &touches),
            (1200.0, 0.0)
        );
        assert_eq!(
            credited(AttributionModel::LastTouch, &touches),
            (1200.0, 0.0)
        );
        // Two of the three touches in the window are selected.
        assert_eq!(credited(AttributionModel::Linear, &touches), (800.0, 0.0));

        let last_unselected = [touch(20, 1, true), touch(90, 2, false)];
        assert_eq!(
            credited(AttributionModel::LastTouch, &last_unselected),
            (0.0, 0.0)
        );
        assert_eq!(
            credited(AttributionModel::FirstTouch, &last_unselected),
            (1200.0, 0.0)
        );
    }

    #[test]
    fn a_sale_without_touches_in_its_window_is_unattributed() {
        let too_early = [touch(9, 1, true)];
        assert_eq!(
            credited(AttributionModel::Linear, &too_early),
            (0.0, 1200.0)
        );
        assert_eq!(credited(AttributionModel::Linear, &[]), (0.0, 1200.0));
        // The window's first instant counts: exactly 90 days before.
        assert_eq!(
            credited(AttributionModel::Linear, &[touch(10, 1, true)]),
            (1200.0, 0.0)
        );
    }

    #[test]
    fn touches_at_one_instant_keep_the_order_they_were_stored_in() {
        let tied = [touch(60, 9, false), touch(60, 3, true)];
        assert_eq!(credited(AttributionModel::FirstTouch, &tied), (1200.0, 0.0));
        assert_eq!(credited(AttributionModel::LastTouch, &tied), (0.0, 0.0));
    }
}
