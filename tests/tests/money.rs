//! Hard KPIs in money over HTTP, on both backends: revenue per currency, cost per
//! outcome, and ROI under each attribution model. Every expected figure is worked
//! out by hand from the events below, in the comments beside it.

#![allow(clippy::unwrap_used)]

use hourglass_tests::{Backend, TestApp, on_both_backends};
use serde_json::{Value, json};

const INGEST: &str = "mutation($ws: ID!, $events: [EventInput!]!) {
  ingestEvents(workspace: $ws, events: $events) { accepted rejected { messageId message } }
}";

const MONEY: &str = "query($f: KpiFilterInput, $model: AttributionModel, $days: Int) {
  kpis(workspace: \"shop\", filter: $f) {
    spend spendByCurrency { amount currency }
    revenue { amount currency }
    costPerLead { value currency outcomes unavailable }
    costPerRegistrant { value currency outcomes unavailable }
    costPerAttendee { value currency outcomes unavailable }
    costPerCustomer { value currency outcomes unavailable }
    roi(model: $model, lookbackDays: $days) {
      value lower upper creditedSales sufficient unavailable model lookbackDays sales
      spend { amount currency }
      attributedRevenue { amount currency }
      otherCurrencies { amount currency }
      unattributedRevenue { amount currency }
    }
  }
}";

/// One event: `who` is a contact id; `extra` adds or overrides fields.
fn event(id: &str, kind: &str, who: &str, at: &str, extra: Value) -> Value {
    let mut e = json!({"messageId": id, "kind": kind, "contactId": who,
                       "occurredAt": format!("2026-{at}:00Z")});
    e.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    e
}

/// The shop: three campaigns (two in EUR, one in USD), their spend, a funnel,
/// stage changes, touches and four sales.
async fn shop(backend: Backend) -> Option<TestApp> {
    let app = TestApp::spawn(backend).await?;
    app.create_workspace("shop").await;
    app.graphql_ok(
        "mutation {
          f: createCampaign(workspace: \"shop\", input: {id: \"find\", name: \"Find\", goal: FIND, currency: \"EUR\"}) { id }
          g: createCampaign(workspace: \"shop\", input: {id: \"grow\", name: \"Grow\", goal: GROW, currency: \"EUR\"}) { id }
          u: createCampaign(workspace: \"shop\", input: {id: \"us\", name: \"US\", goal: FIND, currency: \"USD\"}) { id }
          w: createAsset(workspace: \"shop\", input: {id: \"web\", kind: WEBINAR, durationSeconds: 3600}) { id }
          s1: recordSpend(workspace: \"shop\", campaign: \"find\", channel: \"email\", day: \"2026-03-01\", amount: 400) { amount }
          s2: recordSpend(workspace: \"shop\", campaign: \"find\", channel: \"display\", day: \"2026-03-02\", amount: 200) { amount }
          s3: recordSpend(workspace: \"shop\", campaign: \"grow\", channel: \"email\", day: \"2026-03-02\", amount: 300) { amount }
          s4: recordSpend(workspace: \"shop\", campaign: \"us\", channel: \"paid_search\", day: \"2026-03-02\", amount: 1000) { amount }
        }",
        json!({}),
    )
    .await;
    let find = json!({"campaignId": "find"});
    let mut events = Vec::new();
    // p1–p4 register for the webinar through `find`, p1 and p2 attend.
    for i in 1..=4 {
        events.push(event(
            &format!("reg{i}"),
            "REGISTRATION",
            &format!("p{i}"),
            "03-05T10:00",
            json!({"campaignId": "find", "assetId": "web"}),
        ));
    }
    for i in 1..=2 {
        events.push(event(
            &format!("att{i}"),
            "ATTENDANCE",
            &format!("p{i}"),
            "03-06T10:00",
            json!({"campaignId": "find", "assetId": "web", "value": 3000}),
        ));
    }
    // p1–p5 become leads through `find`, p6–p8 through nothing; p1 becomes a customer
    // through `find` (before its sale: a stage change is no touch), p2 through nothing.
    for i in 1..=8 {
        let campaign = if i <= 5 { find.clone() } else { json!({}) };
        let mut e = event(
            &format!("lead{i}"),
            "STAGE_CHANGE",
            &format!("p{i}"),
            "03-10T10:00",
            campaign,
        );
        e["properties"] = json!({"to": "LEAD"});
        events.push(e);
    }
    let mut won = event("cust1", "STAGE_CHANGE", "p1", "04-10T09:00", find.clone());
    won["properties"] = json!({"to": "CUSTOMER"});
    events.push(won);
    let mut won = event("cust2", "STAGE_CHANGE", "p2", "04-12T09:00", json!({}));
    won["properties"] = json!({"to": "CUSTOMER"});
    events.push(won);
    // p1's other touches: one too old for a 90-day window, a page view through find
    // by email, a click through grow by email, one after its sale. p11, a colleague
    // at acme, sees a grow display ad.
    let touch = |id: &str, kind: &str, who: &str, at: &str, campaign: &str, channel: &str| {
        event(
            id,
            kind,
            who,
            at,
            json!({"campaignId": campaign, "channel": channel}),
        )
    };
    events.push(touch("old", "CLICK", "p1", "01-05T10:00", "grow", "email"));
    events.push(touch(
        "t2",
        "PAGE_VIEW",
        "p1",
        "03-01T10:00",
        "find",
        "email",
    ));
    events.push(touch("t5", "CLICK", "p1", "04-01T10:00", "grow", "email"));
    events.push(touch(
        "later",
        "CLICK",
        "p1",
        "04-11T10:00",
        "find",
        "email",
    ));
    let mut colleague = touch("t6", "IMPRESSION", "p11", "04-05T10:00", "grow", "display");
    colleague["organizationId"] = json!("acme");
    events.push(colleague);
    events.push(touch(
        "t9",
        "CLICK",
        "p9",
        "04-01T10:00",
        "us",
        "paid_search",
    ));
    // The sales: p1 at acme 1000 EUR, p2 500 without a currency, p9 2000 USD, p10
    // (never touched) 300 EUR.
    let sale = |id: &str, who: &str, at: &str, amount: f64, properties: Value| {
        event(
            id,
            "REVENUE",
            who,
            at,
            json!({"value": amount, "properties": properties}),
        )
    };
    let mut s1 = sale(
        "s1",
        "p1",
        "04-10T12:00",
        1000.0,
        json!({"currency": "EUR"}),
    );
    s1["organizationId"] = json!("acme");
    events.push(s1);
    events.push(sale(
        "s2",
        "p2",
        "04-12T12:00",
        500.0,
        json!({"deal": "d2"}),
    ));
    events.push(sale(
        "s3",
        "p9",
        "04-15T12:00",
        2000.0,
        json!({"currency": "USD"}),
    ));
    events.push(sale(
        "s4",
        "p10",
        "04-20T12:00",
        300.0,
        json!({"currency": "EUR"}),
    ));
    let n = events.len();
    let ingested = app
        .graphql_ok(INGEST, json!({"ws": "shop", "events": events}))
        .await;
    assert_eq!(ingested["ingestEvents"]["accepted"], n, "{ingested}");
    Some(app)
}

async fn money(app: &TestApp, filter: Value, model: &str, days: u32) -> Value {
    app.graphql_ok(MONEY, json!({"f": filter, "model": model, "days": days}))
        .await["kpis"]
        .clone()
}

fn close(got: &Value, expected: f64) {
    let got = got.as_f64().unwrap_or_else(|| panic!("{got} is no number"));
    assert!((got - expected).abs() < 1e-9, "{got} vs {expected}");
}

async fn cost_per_outcome_divides_one_currencys_spend_or_says_why_not(backend: Backend) {
    let Some(app) = shop(backend).await else {
        return;
    };
    // Campaign `find`: 600 EUR spent; 5 leads (p1–p5), 4 registrants, 2 attendees, 1
    // customer (p1).
    let find = money(&app, json!({"campaign": "find"}), "LINEAR", 90).await;
    assert_eq!(find["spend"], 600.0);
    assert_eq!(
        find["spendByCurrency"],
        json!([{"amount": 600.0, "currency": "EUR"}])
    );
    for (kpi, value, outcomes) in [
        ("costPerLead", 120.0, 5),
        ("costPerRegistrant", 150.0, 4),
        ("costPerAttendee", 300.0, 2),
        ("costPerCustomer", 600.0, 1),
    ] {
        assert_eq!(
            find[kpi],
            json!({"value": value, "currency": "EUR", "outcomes": outcomes, "unavailable": null}),
            "{kpi}"
        );
    }
    // By email: 400 EUR, but no stage change came by email.
    let email = money(
        &app,
        json!({"campaign": "find", "channel": "email"}),
        "LINEAR",
        90,
    )
    .await;
    assert_eq!(
        email["costPerLead"],
        json!({"value": null, "currency": null, "outcomes": 0, "unavailable": "NO_OUTCOMES"})
    );
    // The whole workspace spends in EUR (900) and USD (1000): never added.
    let all = money(&app, json!({}), "LINEAR", 90).await;
    assert_eq!(all["spend"], Value::Null);
    assert_eq!(
        all["spendByCurrency"],
        json!([{"amount": 900.0, "currency": "EUR"}, {"amount": 1000.0, "currency": "USD"}])
    );
    assert_eq!(all["costPerLead"]["unavailable"], "MIXED_CURRENCIES");
    assert_eq!(all["costPerLead"]["outcomes"], 8);
    // An asset: spend is not recorded per asset. Days without spend: nothing to divide.
    let asset = money(&app, json!({"asset": "web"}), "LINEAR", 90).await;
    assert_eq!(asset["spend"], Value::Null);
    assert_eq!(
        asset["costPerAttendee"]["unavailable"],
        "SPEND_NOT_RECORDED"
    );
    let april = json!({"campaign": "find", "days": {"from": "2026-04-01", "to": "2026-05-01"}});
    let april = money(&app, april, "LINEAR", 90).await;
    assert_eq!(april["costPerCustomer"]["unavailable"], "NO_SPEND");
    // A workspace whose stages leave CUSTOMER out cannot count customers.
    app.graphql_ok(
        "mutation { updateWorkspace(slug: \"shop\", input: {lifecycleStages: [\"VISITOR\", \"LEAD\", \"MQL\"]}) { slug } }",
        json!({}),
    )
    .await;
    let find = money(&app, json!({"campaign": "find"}), "LINEAR", 90).await;
    assert_eq!(
        find["costPerCustomer"],
        json!({"value": null, "currency": null, "outcomes": null, "unavailable": "STAGE_NOT_LISTED"})
    );
    assert_eq!(find["costPerLead"]["value"], 120.0);
}

async fn revenue_is_summed_per_currency_never_across(backend: Backend) {
    let Some(app) = shop(backend).await else {
        return;
    };
    let all = money(&app, json!({}), "LINEAR", 90).await;
    // 500 without a currency, 1000 + 300 EUR, 2000 USD.
    assert_eq!(
        all["revenue"],
        json!([
            {"amount": 500.0, "currency": null},
            {"amount": 1300.0, "currency": "EUR"},
            {"amount": 2000.0, "currency": "USD"},
        ])
    );
    // The filter applies as to every count: April 12th holds p2's sale only.
    let day = json!({"days": {"from": "2026-04-12", "to": "2026-04-13"}});
    assert_eq!(
        money(&app, day, "LINEAR", 90).await["revenue"],
        json!([{"amount": 500.0, "currency": null}])
    );
    // A reporting currency names what the unnamed amount is in.
    let set = app
        .graphql_ok(
            "mutation { updateWorkspace(slug: \"shop\", input: {currency: \"eur\"}) { currency } }",
            json!({}),
        )
        .await;
    assert_eq!(set["updateWorkspace"]["currency"], "EUR");
    let all = money(&app, json!({}), "LINEAR", 90).await;
    assert_eq!(
        all["revenue"],
        json!([
            {"amount": 1800.0, "currency": "EUR"},
            {"amount": 2000.0, "currency": "USD"},
        ])
    );
    let bad = app
        .graphql(
            "mutation { updateWorkspace(slug: \"shop\", input: {currency: \"euro\"}) { currency } }",
            json!({}),
        )
        .await;
    assert_eq!(hourglass_tests::error_code(&bad), "BAD_USER_INPUT", "{bad}");
}

async fn roi_credits_each_sale_to_the_touches_before_it(backend: Backend) {
    let Some(app) = shop(backend).await else {
        return;
    };
    let find = json!({"campaign": "find"});
    // s1 (1000 EUR, p1 at acme) has five touches in its 90 days: find page view
    // (03-01), find registration (03-05), find attendance (03-06), grow click
    // (04-01), grow ad to colleague p11 (04-05). s2 (500, no currency yet) has p2's
    // find registration and attendance.
    // LINEAR, find: 3/5 × 1000 = 600 EUR, and 500 in no currency, left apart.
    // ROI = (600 − 600) / 600 = 0.
    let linear = money(&app, find.clone(), "LINEAR", 90).await["roi"].clone();
    assert_eq!(linear["model"], "LINEAR");
    assert_eq!(linear["lookbackDays"], 90);
    close(&linear["value"], 0.0);
    assert_eq!(linear["spend"], json!({"amount": 600.0, "currency": "EUR"}));
    assert_eq!(
        linear["attributedRevenue"],
        json!({"amount": 600.0, "currency": "EUR"})
    );
    assert_eq!(
        linear["otherCurrencies"],
        json!([{"amount": 500.0, "currency": null}])
    );
    assert_eq!(linear["sales"], 4);
    assert_eq!(
        linear["unattributedRevenue"],
        json!([{"amount": 300.0, "currency": "EUR"}]),
        "p10 was never touched"
    );

    // With EUR as the reporting currency, s2's 500 is EUR too.
    app.graphql_ok(
        "mutation { updateWorkspace(slug: \"shop\", input: {currency: \"EUR\"}) { currency } }",
        json!({}),
    )
    .await;
    // LINEAR: 600 + 500 = 1100; (1100 − 600) / 600.
    let roi = |filter: Value, model: &'static str, days: u32| {
        let app = &app;
        async move { money(app, filter, model, days).await["roi"].clone() }
    };
    let linear = roi(find.clone(), "LINEAR", 90).await;
    close(&linear["value"], 500.0 / 600.0);
    assert_eq!(linear["otherCurrencies"], json!([]));
    // Its interval: credits 600 and 500, a compound Poisson total with variance
    // 600² + 500²; python3: m = 1.959963984540054 * math.sqrt(600**2 + 500**2)
    // = 1530.7808075042674; lower (1100 − m clipped at 0 − 600) / 600 = −1,
    // upper (1100 + m − 600) / 600 = 3.384634679173779. Two sales: not sufficient.
    close(&linear["lower"], -1.0);
    close(&linear["upper"], 3.384634679173779);
    assert_eq!(linear["creditedSales"], 2);
    assert_eq!(linear["sufficient"], false);
    // FIRST_TOUCH: s1's first is find's page view, s2's find's registration: 1500.
    close(&roi(find.clone(), "FIRST_TOUCH", 90).await["value"], 1.5);
    // LAST_TOUCH: s1's last is grow's ad to the colleague; s2's find's attendance: 500.
    close(
        &roi(find.clone(), "LAST_TOUCH", 90).await["value"],
        (500.0 - 600.0) / 600.0,
    );
    // grow: LINEAR 2/5 × 1000 = 400 against 300 spent.
    close(
        &roi(json!({"campaign": "grow"}), "LINEAR", 90).await["value"],
        100.0 / 300.0,
    );
    // us: its click is p9's only touch: 2000 USD against 1000 USD.
    let us = roi(json!({"campaign": "us"}), "LINEAR", 90).await;
    close(&us["value"], 1.0);
    assert_eq!(us["attributedRevenue"]["currency"], "USD");
    assert_eq!(
        us["otherCurrencies"],
        json!([]),
        "EUR sales credit nothing to us"
    );
    // 30 days: s1's window starts 03-11 (only grow's touches are in it), s2's 03-13
    // (none: unattributed). find gets nothing back.
    let short = roi(find.clone(), "LINEAR", 30).await;
    close(&short["value"], -1.0);
    assert_eq!(
        short["unattributedRevenue"],
        json!([{"amount": 800.0, "currency": "EUR"}])
    );
    // The range picks the sales: up to April 10th, s1 only, and find's spend in it.
    let march = json!({"campaign": "find", "days": {"from": "2026-03-01", "to": "2026-04-11"}});
    let march = roi(march, "LINEAR", 90).await;
    assert_eq!(march["sales"], 1);
    close(&march["value"], 0.0);
    // The channel picks the touches too: find by email is s1's page view, 1/5 of s1,
    // against the 400 spent by email.
    let email = roi(
        json!({"campaign": "find", "channel": "email"}),
        "LINEAR",
        90,
    )
    .await;
    assert_eq!(
        email["attributedRevenue"],
        json!({"amount": 200.0, "currency": "EUR"})
    );
    close(&email["value"], (200.0 - 400.0) / 400.0);
    // An asset: spend is not recorded per asset; the credit is still listed.
    let web = roi(json!({"asset": "web"}), "LINEAR", 90).await;
    assert_eq!(web["unavailable"], "SPEND_NOT_RECORDED");
    assert_eq!(web["value"], Value::Null);
    // s1: registration and attendance, 2/5 of 1000; s2: both of p2's touches, 500.
    assert_eq!(
        web["otherCurrencies"],
        json!([{"amount": 900.0, "currency": "EUR"}])
    );
    // A lookback out of range is refused with its field.
    let bad = app
        .graphql(MONEY, json!({"f": {}, "model": "LINEAR", "days": 0}))
        .await;
    assert_eq!(hourglass_tests::error_code(&bad), "BAD_USER_INPUT", "{bad}");
}

on_both_backends!(
    cost_per_outcome_divides_one_currencys_spend_or_says_why_not,
    revenue_is_summed_per_currency_never_across,
    roi_credits_each_sale_to_the_touches_before_it,
);
