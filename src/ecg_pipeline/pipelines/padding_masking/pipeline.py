"""``padding_masking``: CinC 2017 and CPSC 2018 records -> splits -> padded arrays with masks."""

from kedro.pipeline import Node, Pipeline

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    cinc = Pipeline(
        [
            Node(nodes.split_cinc, ["cinc2017_records", "params:padding_masking.cinc2017.split"],
                 ["cinc2017_train_records", "cinc2017_validation_records", "cinc2017_test_records"],
                 name="split_cinc2017"),
            Node(nodes.pad_cinc, ["cinc2017_train_records", "params:padding_masking.cinc2017.pad"], "cinc2017_train",
                 name="pad_cinc2017_train"),
            Node(nodes.pad_cinc, ["cinc2017_validation_records", "params:padding_masking.cinc2017.pad"],
                 "cinc2017_validation", name="pad_cinc2017_validation"),
            Node(nodes.pad_cinc, ["cinc2017_test_records", "params:padding_masking.cinc2017.pad"], "cinc2017_test",
                 name="pad_cinc2017_test"),
        ],
        tags="cinc2017",
    )
    cpsc = Pipeline(
        [
            Node(nodes.split_cpsc, ["cpsc2018_records", "params:padding_masking.cpsc2018.split"],
                 ["cpsc2018_train_records", "cpsc2018_validation_records", "cpsc2018_test_records"],
                 name="split_cpsc2018"),
            Node(nodes.pad_cpsc_train, ["cpsc2018_train_records", "params:padding_masking.cpsc2018.pad"],
                 "cpsc2018_train", name="pad_cpsc2018_train"),
            Node(nodes.pad_cpsc_eval, ["cpsc2018_validation_records", "params:padding_masking.cpsc2018.pad"],
                 "cpsc2018_validation", name="pad_cpsc2018_validation"),
            Node(nodes.pad_cpsc_eval, ["cpsc2018_test_records", "params:padding_masking.cpsc2018.pad"],
                 "cpsc2018_test", name="pad_cpsc2018_test"),
        ],
        tags="cpsc2018",
    )
    return Pipeline([cinc, cpsc], tags="padding_masking")
