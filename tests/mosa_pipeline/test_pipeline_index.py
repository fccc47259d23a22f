"""`read_pipeline_index`: the one reader of every pipeline directory's `model_index.json`."""

import pytest

from kinevid.errors import MissingWeightsError
from kinevid.pipelines.pipeline_mosa import read_pipeline_index


def test_reads_an_index_and_names_what_is_wrong(tmp_path):
    assert read_pipeline_index(tmp_path, required=False) == {}
    with pytest.raises(MissingWeightsError, match=r"model_index\.json: not a readable JSON pipeline index"):
        read_pipeline_index(tmp_path)
    index = tmp_path / "model_index.json"
    index.write_text('{"_class_name": "MoSAPipeline"}')
    assert read_pipeline_index(tmp_path) == {"_class_name": "MoSAPipeline"}
    index.write_text("{not json")
    with pytest.raises(MissingWeightsError, match="not a readable JSON pipeline index"):
        read_pipeline_index(tmp_path, required=False)
    index.write_text("[1, 2]")
    with pytest.raises(MissingWeightsError, match="expected a JSON object, got list"):
        read_pipeline_index(tmp_path)
