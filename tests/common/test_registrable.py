import pytest

from lmlab.common import ConfigurationError, Registrable


class Animal(Registrable):
    default_implementation = "dog"

    def __init__(self, legs: int = 4) -> None:
        self.legs = legs


@Animal.register("dog")
class Dog(Animal):
    """A dog."""


@Animal.register("bird")
class Bird(Animal):
    def __init__(self, wings: int = 2) -> None:
        super().__init__(legs=2)
        self.wings = wings

    @classmethod
    def penguin(cls) -> "Bird":
        return cls(wings=0)


Animal.register("penguin", constructor="penguin")(Bird)


def test_register_and_by_name():
    assert Animal.by_name("dog") is Dog
    assert Animal.by_name("penguin")().wings == 0
    assert Animal.list_available() == ["dog", "bird", "penguin"]  # default first
    assert Animal.is_registered("bird") and not Animal.is_registered("cat")
    assert Animal.registry_name() == "animal"
    assert Dog.registry_base() is Animal


def test_duplicate_name_is_an_error_unless_exist_ok():
    with pytest.raises(ConfigurationError, match='already registered'):
        @Animal.register("dog")
        class OtherDog(Animal):
            pass

    @Animal.register("dog2")
    class Dog2(Animal):
        pass

    @Animal.register("dog2", exist_ok=True)
    class Dog3(Animal):
        pass

    assert Animal.by_name("dog2") is Dog3
    del Registrable._registry[Animal]["dog2"]


def test_unknown_name_suggests_close_match():
    with pytest.raises(ConfigurationError) as info:
        Animal.by_name("dgo")
    assert 'unknown Animal "dgo"; did you mean "dog"?' in str(info.value)
    assert "lmlab list animal" in str(info.value)


def test_fully_qualified_name():
    assert Animal.by_name(f"{__name__}.Bird") is Bird
    with pytest.raises(ConfigurationError, match="is not a Animal subclass"):
        Animal.by_name("collections.OrderedDict")
    with pytest.raises(ConfigurationError, match="cannot import module"):
        Animal.by_name("no_such_module_xyz.Thing")


def test_default_implementation_used_without_type():
    animal = Animal.from_params({"legs": 3})
    assert type(animal) is Dog and animal.legs == 3


def test_registration_rejects_unbuildable_annotations():
    class Opaque:
        pass

    with pytest.raises(TypeError, match="argument 'thing' has annotation Opaque"):
        @Animal.register("broken")
        class Broken(Animal):
            def __init__(self, thing: Opaque) -> None:
                super().__init__()

    # with a default it is simply not settable from a config
    @Animal.register("fine")
    class Fine(Animal):
        def __init__(self, thing: Opaque = None) -> None:
            super().__init__()

    del Registrable._registry[Animal]["fine"]
