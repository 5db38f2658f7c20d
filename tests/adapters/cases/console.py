from tests.adapters.cases import AdapterCase

CASE = AdapterCase(
    name="console",
    configure=lambda fake: None,
    settings=lambda base_url: {"colour": False},
    address="ops",
    main_operation="",
    http=False,
    external_id="console-42",
)
