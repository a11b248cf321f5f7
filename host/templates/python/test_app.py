"""Unit tests of the agent in plain CPython (no WebAssembly): `make test`."""

import unittest

from hangar_agent.testing import AgentHarness

from app import {{name_pascal}}


class {{name_pascal}}Test(unittest.TestCase):
    def test_says_hello(self):
        agent = AgentHarness({{name_pascal}})
        meta = agent.create({"name": "World"})
        self.assertEqual(meta, {"name": "World"})
        resource = agent.get(meta)
        self.assertEqual(resource.phase, "succeeded")
        self.assertEqual(resource.outputs, {"greeting": "Hello, World!"})
        agent.delete(meta)

    def test_logs_the_name(self):
        agent = AgentHarness({{name_pascal}})
        agent.create({"name": "Ada"})
        self.assertIn(("info", "greeting Ada"), agent.logs)


if __name__ == "__main__":
    unittest.main()
