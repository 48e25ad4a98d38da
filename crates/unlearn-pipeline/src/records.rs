//! Typed result records of a study, read back from the store.

use serde_json::Value;
use unlearn_report::{MethodTrait, ResultRecord, Role};

use crate::error::{PipelineError, Result};
use crate::exec::StepRunner;
use crate::plan::Plan;
use crate::step::{CellSteps, Steps};
use crate::store::Store;
use unlearn_ops::logged_train_seconds;

fn read_json(path: &std::path::Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| PipelineError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| PipelineError::Json {
        path: path.to_path_buf(),
        source: e,
    })
}

/// With `--oracles`: the per-example tests of model `name` in the cell's scenario, once
/// their step is done (a partial report before the last member has none).
fn oracle_tests(
    steps: &Steps,
    store: &Store,
    cell: &CellSteps,
    name: &str,
) -> Result<Option<Value>> {
    let Some((_, id)) = cell.oracle_tests.iter().find(|(n, _)| n == name) else {
        return Ok(None);
    };
    let step = &steps.all[*id];
    if !store.is_done(&step.output, &step.key) {
        return Ok(None);
    }
    let path = store.path(&step.output);
    if !path.exists() {
        return Ok(None);
    }
    read_json(&path).map(Some)
}

/// The role of the method run `name` of `plan`: an ablation of [`crate::ABLATIONS`], or a
/// method, the study's subject or not, with its traits from the registry.
pub fn role_of(plan: &Plan, name: &str) -> Role {
    let method = plan
        .methods
        .iter()
        .find(|m| m.name == name)
        .map_or(name, |m| m.method.as_str());
    method_role(name, method, plan.subject.as_deref())
}

/// The role of a record written before roles were recorded, from its row name: the
/// study's reference rows (`original`, `retrain`), an ablation of [`crate::ABLATIONS`], or a
/// method of the registry, [`crate::plan::DEFAULT_SUBJECT`] the subject (those studies had
/// no other).
pub fn legacy_role(name: &str) -> Role {
    match name {
        "original" => Role::ORIGINAL,
        "retrain" => Role::RETRAIN,
        _ => method_role(name, name, Some(crate::plan::DEFAULT_SUBJECT)),
    }
}

fn method_role(name: &str, method: &str, subject: Option<&str>) -> Role {
    if let Some(a) = crate::ABLATIONS.iter().find(|a| a.name == name) {
        return Role::Ablation {
            of: a.method.to_string(),
            switch: a.set.to_string(),
            without: a.without.to_string(),
        };
    }
    let traits = unlearn_methods::registry::traits(method)
        .unwrap_or_default()
        .iter()
        .map(|t| match t {
            unlearn_methods::MethodTrait::WrongLabels => MethodTrait::WrongLabels,
            unlearn_methods::MethodTrait::HeadOnly => MethodTrait::HeadOnly,
        })
        .collect();
    Role::Method {
        subject: subject == Some(name),
        traits,
    }
}

/// The records of one cell, in report order (original, retrain, the method runs): the
/// metrics without curves and spectrum, the run's parameters and seconds, the time ratio
/// to the retrain model, or the failure of a method that did not finish.
pub fn cell_records(
    plan: &Plan,
    steps: &Steps,
    store: &Store,
    runner: &StepRunner,
    cell: &CellSteps,
) -> Result<Vec<ResultRecord>> {
    let scenario = plan.scenarios[cell.cell.scenario].to_string();
    let seconds_of_training =
        |id: usize| logged_train_seconds(&runner.checkpoint_of(id).with_extension("log.jsonl"));
    let retrain_seconds = seconds_of_training(cell.retrain);
    let mut records = Vec::new();
    for (name, producer, _, metrics) in &cell.models {
        let mut rec = ResultRecord {
            preset: plan.preset.to_string(),
            scenario: scenario.clone(),
            seed: cell.cell.seed,
            method: name.clone(),
            params: None,
            failure: None,
            metrics: None,
            seconds: None,
            rte_ratio: None,
            tuning: None,
            role: None,
        };
        if let Some(spec) = &plan.tune {
            let tune = steps.all[*producer]
                .inputs
                .iter()
                .find(|&&i| steps.all[i].kind == crate::step::StepKind::Tune);
            if let Some(&t) = tune {
                let tuned_on = steps.all[t].cell.seed;
                rec.tuning = Some(unlearn_report::Tuning {
                    trials: spec.trials,
                    objective: spec.objective.to_string(),
                    tuned_method: steps.all[t].model.clone().unwrap_or_default(),
                    tuned_on_seed: tuned_on,
                    held_out: tuned_on != cell.cell.seed,
                });
            }
        }
        let is_method = steps.all[*producer].kind == crate::step::StepKind::Forget;
        // The references by the step that made them, methods by the plan and the registry.
        rec.role = Some(if *producer == cell.retrain {
            Role::RETRAIN
        } else if *producer == cell.original {
            Role::ORIGINAL
        } else {
            role_of(plan, name)
        });
        // Another study on the same store (other method settings) writes the same paths: a
        // record is this plan's only while its key sidecar says so.
        for id in [*producer, *metrics] {
            let step = &steps.all[id];
            let exists = store.path(&step.output).exists();
            if exists && !store.is_done(&step.output, &step.key) {
                return Err(PipelineError::Plan(format!(
                    "{} was rewritten by another study on this store (its key is not this \
                     plan's): run studies with other settings in separate --out folders, or \
                     one after the other",
                    store.path(&step.output).display()
                )));
            }
        }
        let method_record = if is_method {
            // A forget step's output is the run record.
            read_json(&store.path(&steps.all[*producer].output)).ok()
        } else {
            None
        };
        if let Some(r) = &method_record {
            rec.params = Some(r["params"].clone());
        }
        if is_method && !runner.checkpoint_of(*producer).exists() {
            rec.failure = Some(
                method_record
                    .as_ref()
                    .and_then(|r| r["failed"].as_str().map(str::to_string))
                    .unwrap_or_else(|| "no checkpoint written".into()),
            );
            records.push(rec);
            continue;
        }
        let mut m = read_json(&store.path(&steps.all[*metrics].output))?;
        if let Some(obj) = m.as_object_mut() {
            obj.remove("curves");
            obj.remove("spectrum");
        }
        if let Some(tests) = oracle_tests(steps, store, cell, name)? {
            if let Some(obj) = m.as_object_mut() {
                obj.insert("oracle_tests".into(), tests);
            }
        }
        rec.metrics = Some(m);
        rec.seconds = if is_method {
            method_record.as_ref().and_then(|r| r["seconds"].as_f64())
        } else {
            seconds_of_training(*producer)
        };
        if let (Some(a), Some(b)) = (rec.seconds, retrain_seconds) {
            rec.rte_ratio = Some(a / b);
        }
        records.push(rec);
    }
    Ok(records)
}
