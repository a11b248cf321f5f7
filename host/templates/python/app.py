"""{{name}}: a Flyte agent for Hangar, written in Python.

An async agent serving task type `{{name_snake}}`: `create` keeps the input
`name` in the resource meta, `get` answers SUCCEEDED with the output
`greeting`, `delete` has nothing to stop.
"""

from hangar_agent import AsyncAgent, Resource, export, log


class {{name_pascal}}(AsyncAgent):
    name = "{{name}}"
    task_type = "{{name_snake}}"

    def create(self, task):
        name = task.input("name", "World")
        log.info(f"greeting {name}")
        return {"name": name}

    def get(self, meta):
        return Resource.succeeded({"greeting": f"Hello, {meta['name']}!"})

    def delete(self, meta):
        pass


export({{name_pascal}})
