//! What scripts can do with the input lists and the asset map: the read-only parts of
//! Rhai's array and map API, so that `events.len()`, `facts[0]`, `for e in events`,
//! `events.filter(|e| ...)` and `assets[id]` work as on arrays and maps.

use rhai::{
    Array, Dynamic, Engine, EvalAltResult, FnPtr, INT, ImmutableString, NativeCallContext, Position,
};

use super::error::helper_error;
use super::records::{AssetMap, ContactRow, EventRow, FactRow, Row, RowList};

type Res<T> = Result<T, Box<EvalAltResult>>;

pub(crate) fn register(engine: &mut Engine) {
    register_list::<EventRow>(engine);
    register_list::<FactRow>(engine);
    register_list::<ContactRow>(engine);
    register_assets(engine);
    // Rhai arrays have no `count(closure)`; give them the one the lists have.
    engine.register_fn(
        "count",
        |ctx: NativeCallContext, a: &mut Array, f: FnPtr| -> Res<INT> {
            let mut n: INT = 0;
            for item in a.iter() {
                if predicate(&ctx, &f, item.clone(), "count")? {
                    n += 1;
                }
            }
            Ok(n)
        },
    );
}

/// Calls a script closure with one element and expects true or false.
fn predicate(ctx: &NativeCallContext, f: &FnPtr, item: Dynamic, helper: &str) -> Res<bool> {
    let out: Dynamic = f.call_within_context(ctx, (item,))?;
    out.as_bool().map_err(|_| {
        helper_error(format!(
            "the function given to `{helper}` must return true or false, not {}",
            super::error::type_name(out.type_name())
        ))
    })
}

fn element<R: Row>(list: &RowList<R>, index: INT) -> Res<Dynamic> {
    let len = list.len();
    let pos = if index < 0 {
        usize::try_from(index.unsigned_abs())
            .ok()
            .and_then(|back| len.checked_sub(back))
    } else {
        usize::try_from(index).ok()
    };
    pos.and_then(|p| list.get(p))
        .map(|r| Dynamic::from_map(r.to_map()))
        .ok_or_else(|| EvalAltResult::ErrorArrayBounds(len, index, Position::NONE).into())
}

fn register_list<R: Row>(engine: &mut Engine) {
    engine.register_type_with_name::<RowList<R>>(R::LIST_NAME);
    engine.register_iterator::<RowList<R>>();
    engine.register_fn("len", |l: &mut RowList<R>| l.len() as INT);
    engine.register_get("len", |l: &mut RowList<R>| l.len() as INT);
    engine.register_fn("is_empty", |l: &mut RowList<R>| l.len() == 0);
    engine.register_indexer_get(|l: &mut RowList<R>, i: INT| element(l, i));
    engine.register_fn("get", |l: &mut RowList<R>, i: INT| {
        element(l, i).unwrap_or(Dynamic::UNIT)
    });
    engine.register_fn("first", |l: &mut RowList<R>| {
        l.get(0)
            .map_or(Dynamic::UNIT, |r| Dynamic::from_map(r.to_map()))
    });
    engine.register_fn("last", |l: &mut RowList<R>| {
        l.len()
            .checked_sub(1)
            .and_then(|i| l.get(i))
            .map_or(Dynamic::UNIT, |r| Dynamic::from_map(r.to_map()))
    });
    engine.register_fn("to_array", |l: &mut RowList<R>| -> Array { l.to_maps() });
    engine.register_fn("to_string", |l: &mut RowList<R>| {
        format!("{} ({} items)", R::LIST_NAME, l.len())
    });
    engine.register_fn("to_debug", |l: &mut RowList<R>| {
        format!("{} ({} items)", R::LIST_NAME, l.len())
    });

    engine.register_fn(
        "filter",
        |ctx: NativeCallContext, l: &mut RowList<R>, f: FnPtr| -> Res<RowList<R>> {
            let mut keep = Vec::new();
            for (i, row) in l.iter().enumerate() {
                if predicate(&ctx, &f, Dynamic::from_map(row.to_map()), "filter")? {
                    keep.push(i);
                }
            }
            Ok(l.select(&keep))
        },
    );
    engine.register_fn(
        "map",
        |ctx: NativeCallContext, l: &mut RowList<R>, f: FnPtr| -> Res<Array> {
            let mut out = Array::with_capacity(l.len());
            for row in l.iter() {
                out.push(
                    f.call_within_context::<Dynamic>(&ctx, (Dynamic::from_map(row.to_map()),))?,
                );
                // Bound what a script builds here as Rhai does for its own arrays.
                if out.len() > ctx.engine().max_array_size() {
                    return Err(EvalAltResult::ErrorDataTooLarge(
                        "Size of array".into(),
                        Position::NONE,
                    )
                    .into());
                }
            }
            Ok(out)
        },
    );
    engine.register_fn(
        "count",
        |ctx: NativeCallContext, l: &mut RowList<R>, f: FnPtr| -> Res<INT> {
            let mut n: INT = 0;
            for row in l.iter() {
                if predicate(&ctx, &f, Dynamic::from_map(row.to_map()), "count")? {
                    n += 1;
                }
            }
            Ok(n)
        },
    );
    engine.register_fn(
        "find",
        |ctx: NativeCallContext, l: &mut RowList<R>, f: FnPtr| -> Res<Dynamic> {
            for row in l.iter() {
                let item = Dynamic::from_map(row.to_map());
                if predicate(&ctx, &f, item.clone(), "find")? {
                    return Ok(item);
                }
            }
            Ok(Dynamic::UNIT)
        },
    );
    engine.register_fn(
        "some",
        |ctx: NativeCallContext, l: &mut RowList<R>, f: FnPtr| -> Res<bool> {
            for row in l.iter() {
                if predicate(&ctx, &f, Dynamic::from_map(row.to_map()), "some")? {
                    return Ok(true);
                }
            }
            Ok(false)
        },
    );
    engine.register_fn(
        "all",
        |ctx: NativeCallContext, l: &mut RowList<R>, f: FnPtr| -> Res<bool> {
            for row in l.iter() {
                if !predicate(&ctx, &f, Dynamic::from_map(row.to_map()), "all")? {
                    return Ok(false);
                }
            }
            Ok(true)
        },
    );
    engine.register_fn(
        "reduce",
        |ctx: NativeCallContext, l: &mut RowList<R>, f: FnPtr, initial: Dynamic| -> Res<Dynamic> {
            let mut acc = initial;
            for row in l.iter() {
                acc = f.call_within_context(&ctx, (acc, Dynamic::from_map(row.to_map())))?;
            }
            Ok(acc)
        },
    );
}

fn asset_value(assets: &AssetMap, id: &str) -> Dynamic {
    assets
        .get(id)
        .map_or(Dynamic::UNIT, |a| Dynamic::from_map(a.to_map()))
}

fn register_assets(engine: &mut Engine) {
    engine.register_type_with_name::<AssetMap>("asset map");
    engine.register_indexer_get(|a: &mut AssetMap, id: ImmutableString| asset_value(a, &id));
    engine.register_fn("get", |a: &mut AssetMap, id: ImmutableString| {
        asset_value(a, &id)
    });
    engine.register_fn("contains", |a: &mut AssetMap, id: ImmutableString| {
        a.get(&id).is_some()
    });
    engine.register_fn("len", |a: &mut AssetMap| a.len() as INT);
    engine.register_fn("is_empty", |a: &mut AssetMap| a.len() == 0);
    engine.register_fn("keys", |a: &mut AssetMap| -> Array {
        a.iter().map(|r| Dynamic::from(r.id.clone())).collect()
    });
    engine.register_fn("values", |a: &mut AssetMap| -> Array {
        a.iter().map(|r| Dynamic::from_map(r.to_map())).collect()
    });
    engine.register_fn("to_string", |a: &mut AssetMap| {
        format!("asset map ({} assets)", a.len())
    });
    engine.register_fn("to_debug", |a: &mut AssetMap| {
        format!("asset map ({} assets)", a.len())
    });
}
