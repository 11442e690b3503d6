-- The Python side of tasks/mlbench: for each competition, the starting artifacts (one
-- trainable function, or five with a fixed filter_features between) and the fixed harness
-- that loads the data it is given, calls them and prints the predictions. A program is
--   imports (fixed) | the trainable functions | harness (fixed)
-- run in the process sandbox next to train.csv (labelled rows) and test.csv (rows to
-- predict, without the target). The harness prints one line last, "HONE_RESULT {json}",
-- with one prediction per row of test.csv; the task scores them against labels it keeps.
local M = {}

M.RESULT = "HONE_RESULT "   -- the prefix of the harness's result line

local IMPORTS = [=[
# A Kaggle pipeline run by hone: the harness at the end reads train.csv (labelled rows) and
# test.csv (the rows to predict), calls the functions above it and prints the predictions.
import json

import numpy as np
import pandas as pd]=]

-- The harness's tail, shared: checking the predictions and printing them.
local REPORT = [=[


def report(predictions):
    """The result, for hone: one line, printed last."""
    print("HONE_RESULT " + json.dumps({"predictions": predictions}))


if __name__ == "__main__":
    main()]=]

local AS_PRICES = [=[


def as_prices(predictions, n):
    """One finite price per row of test_data, as floats."""
    p = np.asarray(predictions, dtype=float).ravel()
    if len(p) != n:
        raise ValueError(f"the pipeline returned {len(p)} predictions for the {n} rows of test_data")
    if not np.isfinite(p).all():
        raise ValueError("the predictions include NaN or infinite values")
    return p.tolist()]=]

local AS_LABELS = [=[


def as_labels(predictions, n):
    """One True/False per row of test_data (1/0 and "True"/"False" are taken too)."""
    values = list(np.asarray(predictions).ravel())
    if len(values) != n:
        raise ValueError(f"the pipeline returned {len(values)} predictions for the {n} rows of test_data")
    labels = []
    for v in values:
        if isinstance(v, str):
            v = {"True": True, "False": False}.get(v, v)
        if v in (True, False):  # also 1, 0, 1.0, 0.0 and numpy booleans
            labels.append(bool(v))
        else:
            raise ValueError(f"predictions must be True or False, got {v!r}")
    return labels]=]

local ONE_MAIN = [=[
def main():
    train = pd.read_csv("train.csv")
    x, y = train.drop(columns=["%s"]), train["%s"]
    test_data = pd.read_csv("test.csv")
    predictions = train_model(x, y, test_data)
    report(%s(predictions, len(test_data)))
]=]

local MANY_MAIN = [=[
def main():
    train = pd.read_csv("train.csv")
    x, y = train.drop(columns=["%s"]), train["%s"]
    test_data = pd.read_csv("test.csv")
    x, test_data = preprocess(x, test_data)
    features = select_features(x, y)
    x, test_data = filter_features(x, test_data, features)
    model = create_ensemble_model(x, y)
    model = train_model(model, x, y)
    predictions = predict(model, test_data)
    report(%s(predictions, len(test_data)))
]=]

local FILTER_FEATURES = [=[
def filter_features(x, test_data, features):
    """Keeps the selected columns, in the order given, in both tables."""
    features = list(features)
    if not features:
        raise ValueError("select_features chose no columns")
    missing = [f for f in features if f not in x.columns or f not in test_data.columns]
    if missing:
        raise KeyError(f"select_features chose columns that preprocess did not return: {missing[:10]}")
    return x[features], test_data[features]]=]

local function harness(main, target, convert)
  return string.format(main, target, target, convert) .. (convert == "as_prices" and AS_PRICES or AS_LABELS) ..
    REPORT
end

-- The documentation of the one trainable function: the paper gives it a long docstring
-- that lays out a whole workflow; this is ours, per competition.
local ONE_DOC = {
  house_prices = [=[
train_model(x, y, test_data) -> predicted SalePrice for every row of test_data.

Args:
    x (pd.DataFrame): the training houses, one row each, every column of train.csv but SalePrice
        (Id and 79 features, numeric and categorical, with missing values; "NA" often means
        "none", e.g. no pool or no basement).
    y (pd.Series): their sale prices in dollars (SalePrice), aligned with x.
    test_data (pd.DataFrame): the houses to price, the same columns as x, never with SalePrice.

Returns:
    A sequence (list, numpy array or Series) of len(test_data) finite prices in dollars, in the
    order of test_data's rows.

The score is the RMSE between log(predicted) and log(true) prices (Kaggle's metric), so
relative errors count the same for cheap and expensive houses; fitting log(y) and returning
exp(prediction) usually helps. The whole pipeline lives in this function, for example:
1. Preprocessing: impute missing values (per column: median, mode, or "none" where NA
   means absent); encode categorical columns (one-hot, or ordinal for quality scales such
   as Po < Fa < TA < Gd < Ex); apply every step fitted on x to test_data the same way.
2. Feature engineering: total living area (basement + floors), house age at sale, years
   since remodelling, total bathrooms, porch area, quality x area interactions; log-transform
   skewed areas; consider dropping the few huge, cheap houses that are outliers in x.
3. Model: a regularized linear model (Ridge, Lasso, ElasticNet) on scaled features,
   gradient-boosted trees (sklearn's GradientBoostingRegressor or HistGradientBoosting,
   xgboost), or an average of both kinds.
4. Validation inside the function (e.g. KFold on x) to choose settings, within the time limit.
Set random_state for reproducible results; print what helps you (it is shown to you).]=],
  spaceship_titanic = [=[
train_model(x, y, test_data) -> predicted Transported (True/False) for every row of test_data.

Args:
    x (pd.DataFrame): the training passengers, one row each, every column of train.csv but
        Transported: PassengerId ("gggg_pp": group and number within it), HomePlanet, CryoSleep,
        Cabin ("deck/num/side", side P or S), Destination, Age, VIP, the amounts spent at
        RoomService, FoodCourt, ShoppingMall, Spa and VRDeck, and Name; values may be missing.
    y (pd.Series): whether each passenger was transported to another dimension (bool),
        aligned with x.
    test_data (pd.DataFrame): the passengers to predict, the same columns as x.

Returns:
    A sequence (list, numpy array or Series) of len(test_data) booleans (or 1/0), in the order
    of test_data's rows.

The score is accuracy (Kaggle's metric); the feedback also gives F1 for the True class. The
whole pipeline lives in this function, for example:
1. Preprocessing: impute missing values (spending is usually 0 when missing, and always 0
   in CryoSleep); encode the categorical columns (one-hot); turn the booleans into 0/1.
2. Feature engineering: split Cabin into deck, number and side; the group from PassengerId
   and its size; total spending and whether anything was spent; age bands; the family name.
3. Model: gradient-boosted trees (sklearn's HistGradientBoostingClassifier, xgboost), a
   random forest, logistic regression on scaled features, or a vote of several.
4. Validation inside the function (e.g. StratifiedKFold on x) to choose settings, within the
   time limit.
Set random_state for reproducible results; print what helps you (it is shown to you).]=],
}

local MANY_DOC = {
  preprocess = "preprocess(x, test_data) -> (x, test_data): clean both tables the same way: impute missing " ..
    "values, encode categorical columns as numbers, engineer new features. Fit every step on x only and apply " ..
    "it to both; both returned tables must be numeric, with the same columns, one row per input row in order.",
  select_features = "select_features(x, y) -> list of column names of the preprocessed x to train on (e.g. " ..
    "by correlation, mutual information or a model's importances); filter_features then keeps only those, in " ..
    "both tables.",
  filter_features = "filter_features(x, test_data, features) -> (x[features], test_data[features]); fixed. " ..
    "Raises if a chosen column is missing.",
  create_ensemble_model = "create_ensemble_model(x, y) -> an unfitted model with fit(x, y) and predict(x), " ..
    "e.g. a scikit-learn estimator, a Pipeline, or a VotingRegressor/StackingClassifier of several; x and y " ..
    "(after filter_features) are given to size it, not to fit it.",
  train_model = "train_model(model, x, y) -> the fitted model (fit it on x and y; transform y first if useful, " ..
    "and undo that in predict).",
  predict = "predict(model, test_data) -> one prediction per row of test_data, in order.",
}

local SPECS = {
  house_prices = {
    target = "SalePrice", convert = "as_prices",
    one = [=[
def train_model(x, y, test_data):
    from sklearn.linear_model import Ridge

    features = [c for c in x.select_dtypes("number").columns if c != "Id"]
    fill = x[features].median()
    model = Ridge(alpha=1.0)
    model.fit(x[features].fillna(fill), np.log(y))
    return np.exp(model.predict(test_data[features].fillna(fill)))]=],
    many = {
      preprocess = [=[
def preprocess(x, test_data):
    numeric = list(x.select_dtypes("number").columns)
    fill = x[numeric].median()
    return x[numeric].fillna(fill), test_data[numeric].fillna(fill)]=],
      select_features = [=[
def select_features(x, y):
    return [c for c in x.columns if c != "Id"]]=],
      create_ensemble_model = [=[
def create_ensemble_model(x, y):
    from sklearn.linear_model import Ridge

    return Ridge(alpha=1.0)]=],
      train_model = [=[
def train_model(model, x, y):
    model.fit(x, np.log(y))
    return model]=],
      predict = [=[
def predict(model, test_data):
    return np.exp(model.predict(test_data))]=],
    },
  },
  spaceship_titanic = {
    target = "Transported", convert = "as_labels",
    one = [=[
def train_model(x, y, test_data):
    from sklearn.linear_model import LogisticRegression

    features = list(x.select_dtypes("number").columns)
    fill = x[features].median()
    model = LogisticRegression(C=1.0, max_iter=1000)
    model.fit(x[features].fillna(fill), y)
    return model.predict(test_data[features].fillna(fill))]=],
    many = {
      preprocess = [=[
def preprocess(x, test_data):
    numeric = list(x.select_dtypes("number").columns)
    fill = x[numeric].median()
    return x[numeric].fillna(fill), test_data[numeric].fillna(fill)]=],
      select_features = [=[
def select_features(x, y):
    return list(x.columns)]=],
      create_ensemble_model = [=[
def create_ensemble_model(x, y):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=1000)]=],
      train_model = [=[
def train_model(model, x, y):
    model.fit(x, y)
    return model]=],
      predict = [=[
def predict(model, test_data):
    return model.predict(test_data)]=],
    },
  },
}

local function fixed(name, code, doc)
  return { name = name, code = code, language = "python", editable = false, doc = doc }
end

local function trainable(name, code, doc)
  return { name = name, code = code, language = "python", editable = true, doc = doc }
end

-- The starting artifacts of competition `name`: {one_function = spec, many_function = spec}.
function M.artifacts(name)
  local s = assert(SPECS[name], "no pipelines for " .. tostring(name))
  local many = {}
  for _, f in ipairs({ "preprocess", "select_features" }) do many[#many + 1] = trainable(f, s.many[f], MANY_DOC[f]) end
  many[#many + 1] = fixed("filter_features", FILTER_FEATURES, MANY_DOC.filter_features)
  for _, f in ipairs({ "create_ensemble_model", "train_model", "predict" }) do
    many[#many + 1] = trainable(f, s.many[f], MANY_DOC[f])
  end
  table.insert(many, 1, fixed("imports", IMPORTS))
  many[#many + 1] = fixed("harness", harness(MANY_MAIN, s.target, s.convert))
  return {
    one_function = { language = "python", blocks = {
      fixed("imports", IMPORTS),
      trainable("train_model", s.one, ONE_DOC[name]),
      fixed("harness", harness(ONE_MAIN, s.target, s.convert)),
    } },
    many_function = { language = "python", blocks = many },
  }
end

return M
