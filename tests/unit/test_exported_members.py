import carbon


def test_all_public_names_are_exported_deliberately() -> None:
    included_private = ["__version__"]
    public = sorted(
        (m for m in vars(carbon) if not m.startswith("_") or m in included_private),
        key=str.casefold,
    )
    modules = {"cli", "client", "core", "errors", "registry", "services", "settings", "api", "adapters"}
    modules |= {"books"}  # subpackages, not re-exported names
    assert sorted(carbon.__all__, key=str.casefold) == [m for m in public if m not in modules]
